"""Lesson 06 (will it fit?): the tables, figures and claim-recording blocks the notebook calls.

Every verdict uses the package's one set of device assumptions (:data:`tinydtl.devices.ASSUMPTIONS`:
a learner may use 75 % of a board's SRAM; sizes in KiB via :func:`tinydtl.devices.kib`), unless a
function is given another ``usable_sram_fraction`` explicitly (the lesson's explore widget does).
"""

from __future__ import annotations

import numpy as np

from tinydtl.devices import ASSUMPTIONS, fits, kib, largest_mlp_width, profile, step_cost
from tinydtl.devices.emulate import emulate_round, link_check, make_round_data, predicted_profile, reference_round

__all__ = ["BILAYER", "PERSISTENT", "PHASES", "board_table", "emulation_table", "first_overflow", "heads_table",
           "plot_emulation", "plot_neighbours", "plot_peak_by_phase", "plot_round_energy", "record_board_claims",
           "record_emulation_claims", "round_costs", "short_of", "style_headroom"]

BILAYER = "Bilayer gossip GD-PSGD (arXiv 2501.04817)"
BILAYER_WHERE = "method: Cumulative FedAvg keeps a running weighted sum instead of N stored models"
PERSISTENT = ("weights", "optimizer")
PHASES = {"train": ("gradients", "activations", "input"), "exchange": ("communication", "aggregation")}
COLOURS = {"weights": "#08519c", "optimizer": "#6baed6", "gradients": "#e6550d", "activations": "#fd8d3c",
           "input": "#fdae6b", "communication": "#31a354", "aggregation": "#a1d99b"}


def board_table(boards):
    """Per board: MCU, clock, SRAM, the usable SRAM (``ASSUMPTIONS``), flash — memory in KiB."""
    import pandas as pd

    return pd.DataFrame({b.name: {"MCU": b.mcu, "clock (MHz)": b.clock_hz / 1e6, "SRAM (KiB)": kib(b.sram_bytes),
                                  "usable SRAM (KiB)": kib(ASSUMPTIONS.usable_sram_bytes(b.sram_bytes)),
                                  "flash (KiB)": kib(b.flash_bytes)} for b in boards.values()}).T


def plot_peak_by_phase(profiles: dict, ax):
    """One bar per profile, as long as its peak: the persistent components, then the components of the phase
    that sets the peak. The other phase, never alive at the same time, is the dashed outline."""
    labels = list(profiles)
    seen = set()
    for row, label in enumerate(labels):
        p = profiles[label]
        comps, ph = p.components(), p.phases()
        other = "exchange" if p.peak_phase == "train" else "train"
        left = 0.0
        for name in PERSISTENT + PHASES[p.peak_phase]:
            width = kib(comps[name])
            if width:
                ax.barh(row, width, left=left, color=COLOURS[name], label=None if name in seen else name)
                seen.add(name)
                left += width
        if ph[other]:
            ax.barh(row, kib(ph[other]), left=kib(ph["persistent"]), fill=False, ls="--", lw=1, edgecolor="k",
                    label=None if "outline" in seen else "the other phase (not alive at the peak)")
            seen.add("outline")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("peak SRAM (KiB) = persistent + the larger phase")
    phase_of = {name: ph for ph, names in [("persistent", PERSISTENT), *PHASES.items()] for name in names}
    handles, names = ax.get_legend_handles_labels()
    order = sorted(range(len(names)), key=lambda i: list(COLOURS).index(names[i]) if names[i] in COLOURS else 99)
    ax.legend([handles[i] for i in order], [f"{names[i]} ({phase_of[names[i]]})" if names[i] in phase_of else names[i]
                                            for i in order], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def style_headroom(table):
    """The fit table coloured: green where the peak fits, red where it does not."""
    return table.style.format("{:,.0f}").map(lambda v: f"background-color: {'#c7e9c0' if v >= 0 else '#fcbba1'}")


def short_of(profile_, board) -> str:
    """Which budget a red cell misses: ``"flash"`` (checked first) or ``"usable SRAM"``."""
    return "flash" if fits(profile_, board).flash_headroom < 0 else "usable SRAM"


def record_board_claims(claims, survey: dict, nano, neighbours, differs):
    """Store-all vs Cumulative FedAvg for the survey's learner on the nRF52840 (usable SRAM)."""
    usable = ASSUMPTIONS.usable_sram_bytes(nano.sram_bytes)
    store_p, cum_p = survey.values()
    share = f"usable {ASSUMPTIONS.usable_sram_fraction:.0%} of its {kib(nano.sram_bytes):.0f} KiB"
    claims.reproduction("store_all_overflows_nano33", store_p.sram_bytes / usable, target=1.0, op=">",
                        source=BILAYER, where=BILAYER_WHERE, differs=differs,
                        claim=f"an MCU (nRF52840, {share}) cannot hold {neighbours} received models while training "
                              "(SRAM needed / usable SRAM)")
    claims.reproduction("cumulative_fits_nano33", cum_p.sram_bytes / usable, target=1.0, op="<=",
                        source=BILAYER, where=BILAYER_WHERE, differs=differs,
                        claim="...but it can with Cumulative FedAvg's single running sum (SRAM needed / usable SRAM)")


def first_overflow(store_kib, ns, board):
    """Fewest neighbours whose store-all peak (KiB, one per ``ns``) exceeds ``board``'s usable SRAM."""
    usable = kib(ASSUMPTIONS.usable_sram_bytes(board.sram_bytes))
    return next((int(n) for n, k in zip(ns, store_kib) if k > usable), None), usable


def plot_neighbours(ns, store_kib, cum_kib, boards, names, ax):
    """SRAM against neighbours for both schemes, with the named boards' usable SRAM (near lines share a label)."""
    ax.plot(ns, store_kib, label="store all received models")
    ax.plot(ns, cum_kib, label="Cumulative FedAvg")
    levels = {}
    for name in names:
        level = kib(ASSUMPTIONS.usable_sram_bytes(boards[name].sram_bytes))
        near = next((k for k in levels if abs(k - level) < 0.05 * level), level)
        levels.setdefault(near, []).append(f"{name} ({level:.0f} KiB)")
    for level, labels in levels.items():
        ax.axhline(level, linestyle=":", linewidth=1, color="grey")
        ax.text(ns[-1], level, " / ".join(labels), ha="right", va="bottom", fontsize=8, color="dimgrey")
    ax.plot([], [], ":", color="grey", label=f"usable SRAM ({ASSUMPTIONS.usable_sram_fraction:.0%} of the board's)")
    ax.set_ylim(0, 1.6 * max(levels))  # zoom on the boards: the store-all line leaves the plot upwards
    ax.set(xlabel="neighbours averaged per round", ylabel="peak SRAM (KiB)")
    ax.legend(loc="upper left")


def heads_table(boards, neighbours):
    """Largest hidden width per board (momentum SGD, Cumulative FedAvg), float32 and int8 storage."""
    import pandas as pd

    heads = pd.DataFrame({f"largest h ({dt})": {name: largest_mlp_width(board, optimizer="momentum",
                                                                       aggregation="cumulative",
                                                                       neighbours=neighbours, dtype=dt)
                                               for name, board in boards.items()} for dt in ("float32", "int8")})
    heads.index.name = "board"
    return heads


# ----------------------------------------------------------------------------- the emulated device
def emulation_table(neighbour_counts, batch, seed, board):
    """Emulate a round for both schemes and every neighbour count; check the weights against numpy and ask
    the linker for ``board``'s RAM. Returns ``(rounds, table, largest weight difference)``."""
    import pandas as pd

    rounds, rows, worst = {}, [], 0.0
    for agg in ("store_all", "cumulative"):
        for n in neighbour_counts:
            r = rounds[(agg, n)] = emulate_round(784, 10, batch, n, agg, seed=seed)
            _, averaged = reference_round(make_round_data(784, 10, batch, n, seed=seed))
            np.testing.assert_allclose(r.weights, averaged, rtol=1e-5, atol=1e-7)  # the device computes what numpy does
            worst = max(worst, float(np.abs(r.weights - averaged).max()))
            predicted = predicted_profile(784, 10, batch, n, agg).sram_bytes
            ld = link_check(board.sram_bytes, 784, 10, batch, n, agg)
            rows.append({"scheme": agg, "neighbours": n, "formula (B)": predicted, ".data+.bss (B)": r.static_ram_bytes,
                         "stack (B)": r.stack_bytes, "measured (B)": r.ram_bytes,
                         "measured − formula (B)": r.ram_bytes - predicted,
                         f"linker, {kib(board.sram_bytes):.0f} KiB": "links" if ld.fits else
                         f"overflows by {ld.overflow_bytes:,} B", "fits (measured)": r.ram_bytes <= board.sram_bytes})
    return rounds, pd.DataFrame(rows).set_index(["scheme", "neighbours"]), worst


def plot_emulation(table, board, ax):
    """Formula (lines) against the emulated device's RAM (dots), with the board's whole RAM."""
    for agg, colour in (("store_all", "C3"), ("cumulative", "C0")):
        part = table.loc[agg]
        ax.plot(part.index, kib(part["formula (B)"]), "-", color=colour, label=f"{agg}: formula")
        ax.plot(part.index, kib(part["measured (B)"]), "o", color=colour, label=f"{agg}: emulated Cortex-M4F")
    ax.axhline(kib(board.sram_bytes), color="grey", linestyle=":", label=f"{board.mcu}: all {kib(board.sram_bytes):.0f} KiB")
    ax.set(xlabel="neighbours averaged per round (N)", ylabel="peak RAM (KiB)", ylim=(0, None))
    ax.legend(fontsize=8, loc="upper left")


def record_emulation_claims(claims, rounds, table, board, neighbours):
    """The two reproductions measured on the emulated device and the formula-vs-device finding."""
    store, cum = rounds[("store_all", neighbours)], rounds[("cumulative", neighbours)]
    differs = ("measured on an emulated Cortex-M4F (QEMU mps2-an386) running tinydtl's C training step for the MNIST "
               f"softmax learner against the {board.mcu}'s whole {kib(board.sram_bytes):.0f} KiB; the paper's model "
               "(an MCUNet head) and boards differ")
    note = "measured on an emulated device (QEMU mps2-an386, Cortex-M4F): .data + .bss + painted stack"
    claims.reproduction("emulated_store_all_overflows_nrf52840", store.ram_bytes / board.sram_bytes, op=">=", target=1.0,
                        source=BILAYER, where=BILAYER_WHERE, differs=differs, note=note,
                        claim=f"an nRF52840 (256 KiB) cannot hold {neighbours} received models while training "
                              "(RAM measured on the emulated Cortex-M4F / available)")
    claims.reproduction("emulated_cumulative_fits_nrf52840", cum.ram_bytes / board.sram_bytes, op="<=", target=1.0,
                        source=BILAYER, where=BILAYER_WHERE, differs=differs, note=note,
                        claim="...but it can with Cumulative FedAvg's single running sum (RAM measured on the "
                              "emulated Cortex-M4F / available)")
    claims.finding("emulated_ram_matches_formula", float(table["measured − formula (B)"].abs().max()), op="<=",
                   target=512, unit="B",
                   claim="the emulated device's RAM equals the formula's peak (persistent + max over phases) within 512 B")
    claims.metric("emulated_ram_store_all_max_n", store.ram_bytes)
    claims.metric("emulated_ram_cumulative_max_n", cum.ram_bytes)


def round_costs(rounds, board, cycles_per_instruction, model_bytes):
    """Time and energy of each emulated round: instructions × cycles per instruction on the board's clock; the
    radio sends the model once (broadcast) or once per neighbour (unicast) and receives N models."""
    import pandas as pd

    rows = {}
    for (agg, n), r in rounds.items():
        instructions = r.instructions["train"] + r.instructions["exchange"]
        c = step_cost(board, cycles=instructions * cycles_per_instruction, tx_bytes=model_bytes, rx_bytes=n * model_bytes)
        uni = step_cost(board, tx_bytes=n * model_bytes, rx_bytes=n * model_bytes)
        rows[(agg, n)] = {"instructions": instructions, "compute (ms)": 1e3 * c.compute_s, "radio (ms)": 1e3 * c.radio_s,
                          "compute (mJ)": 1e3 * c.compute_j, "radio, broadcast (mJ)": 1e3 * c.radio_j,
                          "radio, unicast (mJ)": 1e3 * uni.radio_j}
    costs = pd.DataFrame(rows).T
    costs.index.names = ["scheme", "neighbours"]
    costs["compute share (%)"] = 100 * costs["compute (mJ)"] / (costs["compute (mJ)"] + costs["radio, broadcast (mJ)"])
    return costs


def plot_round_energy(costs, ax):
    """Compute and radio energy side by side on a log axis (every value > 0), so a sub-percent share shows."""
    part = costs.loc["cumulative", ["compute (mJ)", "radio, broadcast (mJ)", "radio, unicast (mJ)"]]
    part.plot.bar(ax=ax, rot=0, logy=True, color=["C0", "C1", "C3"])
    ax.set(xlabel="neighbours (N)", ylabel="energy per round (mJ, log scale)")
    ax.legend(fontsize=8, loc="upper left")


def fit_summary(table, profiles, boards, big_mlp, ilvq_label):
    """What the fit table says beyond the survey's learner: the int8 inference misses (and which budget each
    misses), the boards that can train ``big_mlp`` with SGD, the boards that cannot train the ILVQ learner."""
    inference = table.xs("inference int8", level="scheme")
    misses = [f"{m} on {b} ({short_of(profiles[(m, 'inference int8')], boards[b])})"
              for m in inference.index for b in inference.columns if inference.loc[m, b] < 0]
    return {"cases": inference.size, "misses": misses,
            "big_trains": [b for b in boards if table.loc[(big_mlp, "train SGD"), b] >= 0],
            "ilvq_no": [b for b in boards if table.loc[(ilvq_label, "train SGD"), b] < 0]}


# ----------------------------------------------------------------------------- appendix A
def tflm_comparison(models, claims):
    """Inference memory of Keras ``models`` (label -> model): the formula against TensorFlow Lite Micro's arena
    and TensorFlow Lite's flatbuffer, int8 and float32; records the appendix's claims. Returns the table."""
    import pandas as pd

    from tinydtl.devices import tflm_memories

    tflm = tflm_memories(models)
    rows = {}
    for (label, dt), t in tflm.items():
        p_inf = profile(models[label], dtype=dt, training=False, comm_buffers=0)
        rows[(label, dt)] = {"formula input+activations (B)": p_inf.input_bytes + p_inf.activations_bytes,
                             "TFLM arena head (B)": t.head_bytes, "TFLM arena tail (B)": t.tail_bytes,
                             "formula weights (B)": p_inf.weights_bytes, "TFLite flatbuffer (B)": t.flatbuffer_bytes}
    table = pd.DataFrame(rows).T
    table.index.names = ["model", "dtype"]
    table["head − formula (B)"] = table["TFLM arena head (B)"] - table["formula input+activations (B)"]
    table["flatbuffer − weights (B)"] = table["TFLite flatbuffer (B)"] - table["formula weights (B)"]
    first = next(iter(models))
    overhead = float(table.loc[(first, "int8"), "flatbuffer − weights (B)"])
    claims.finding("tflite_int8_overhead", overhead, op="<=", target=4096, unit="B",
                   claim="int8 TFLite flatbuffer = counted weight bytes + a small overhead (overhead <= 4 KiB)")
    claims.sanity("tflite_int8_holds_the_weights", overhead, op=">", target=0, unit="B",
                  source="definition: the flatbuffer stores every weight plus its graph",
                  claim="the int8 TFLite flatbuffer is larger than the counted weight bytes (overhead > 0)")
    claims.finding("tflm_arena_head_matches_formula", float(table["head − formula (B)"].abs().max()), op="<=", target=64,
                   unit="B", source="tinydtl: TensorFlow Lite Micro's recording allocator",
                   claim="TFLM's planned tensors (arena head) equal the formula's input + activations within 64 B "
                         "(16-byte alignment per buffer; TFLM frees the input after the first layer)")
    for dt in ("int8", "float32"):
        claims.metric(f"tflm_arena_softmax_{dt}", tflm[(first, dt)].arena_bytes)
    return table
