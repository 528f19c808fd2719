"""Lesson 05 (bilayer gossip): the tables, figures and claim bookkeeping its cells use, in one namespace.

The notebook runs the schemes; this module turns their histories into what the lesson shows (rounds, bytes
and air time to a fixed target; mixing operators; the range sweep; which boards hold the heads) and
re-exports lesson 12's ablation helpers (:mod:`tinydtl.lab.lessons.l05_authors`), the like-for-like
comparisons (:mod:`tinydtl.lab.lessons.l05_compare`) and the rules fixed before the run
(:mod:`tinydtl.lab.lessons.l05_rules`), so the notebook imports one module: ``from tinydtl.lab.lessons
import l05_bilayer as lab``.
"""

from __future__ import annotations

import numpy as np

from tinydtl.devices import fit_table, load_boards, mlp_layers, profile
from tinydtl.networks.gossip import adjacency, metropolis_weights
from tinydtl.lab.lessons.l05_compare import (
    alpha_summary,
    plot_range_sweep,
    range_summary,
    relayed_cfl,
    server_hops,
    split_but_fast,
    widget_run,
    with_head_links,
)
from tinydtl.lab.lessons.l05_rules import (
    EXTRA_BAND_REASON,
    PAPER,
    PAPER_EXTRA_ROUNDS,
    differs,
    extra,
    mean_se,
    number_text,
    relative_loss,
    rounds_list,
    rounds_text,
    shown,
    times,
    why_not_paper,
)
from tinydtl.networks.transport import Bilayer, one_hop_average

__all__ = [
    "EXTRA_BAND_REASON", "PAPER", "bilayer_round_operator",
    "differs", "extra", "gossip_operator",
    "head_fit_table", "mean_se", "number_text", "mixing_gap", "one_hop_operator", "plot_curves_and_bytes",
    "plot_range_sweep", "relative_loss", "rounds_list", "rounds_text", "shown",
    "target_table", "times", "to_target", "why_not_paper", "fault_table", "plot_swarm", "plot_gaps", "cfa_precision",
    "plot_alpha_losses", "plot_faults", "stable_range", "lesson_parameters", "record_iid_claims",
    "record_alpha_claims", "record_range_claim", "alpha_summary", "range_summary", "relayed_cfl", "server_hops",
    "split_but_fast", "widget_run", "with_head_links",
]



# ----------------------------------------------------------------------------- rounds, bytes, air time
def to_target(h, target, column, bitrate):
    """Rounds, transmissions, bytes (MB) and air time (s at ``bitrate`` bit/s, one transmission after another)
    until ``column`` first reaches ``target``; all None if it never does."""
    r = h.rounds_to_reach(target, column=column)
    if r is None:
        return {"rounds": None, "messages": None, "MB": None, "air s": None}
    nbytes = float(h.cumulative("bytes_up")[r] + h.cumulative("bytes_down")[r])
    return {"rounds": r, "messages": int(h.cumulative("messages")[r]), "MB": nbytes / 1e6, "air s": nbytes * 8 / bitrate}


def target_table(runs, target, bitrate):
    """One row per scheme of ``runs`` (name -> (History, accuracy column)): :func:`to_target`, the final
    accuracy, the network-average model's rounds and the MB per round."""
    import pandas as pd

    rows = {}
    for name, (h, col) in runs.items():
        per_round = (np.mean(h.column("bytes_up", initial=False)) + np.mean(h.column("bytes_down", initial=False))) / 1e6
        rows[name] = {**to_target(h, target, col, bitrate), "final acc": h.column(col)[-1],
                      "network-average model: rounds": h.rounds_to_reach(target) if col != "accuracy" else "n/a (global model)",
                      "MB per round": per_round}
    return pd.DataFrame.from_dict(rows, orient="index")


def plot_curves_and_bytes(runs, target, title):
    """Accuracy against rounds, each scheme's accuracy minus CFL's (points: curves that coincide on the first
    panel separate here), and accuracy against cumulative MB on a log axis; all from round 1 (the initial model
    has sent nothing, and log 0 does not exist). The first entry of ``runs`` is CFL."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    cfl = next(iter(runs.values()))
    cfl_acc = np.asarray(cfl[0].column(cfl[1]), float)
    styles = ["-", "--", "-.", ":"]
    for k, (name, (h, col)) in enumerate(runs.items()):
        acc = np.asarray(h.column(col), float)
        mb = (h.cumulative("bytes_up") + h.cumulative("bytes_down")) / 1e6
        kw = dict(marker="os^v"[k % 4], markersize=4, linestyle=styles[k % 4], label=name)
        axes[0].plot(range(1, len(acc)), acc[1:], **kw)
        axes[1].plot(range(1, len(acc)), 100 * (acc[1:] - cfl_acc[1:len(acc)]), **kw)
        axes[2].plot(mb[1:], acc[1:], **kw)
    for ax in (axes[0], axes[2]):
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target:.0%}")
        ax.set_ylabel("test accuracy (devices' models; CFL: global)")
        ax.set_ylim(0.5, 0.95)
    axes[1].axhline(0, color="grey", linewidth=0.8)
    axes[1].set_ylabel("accuracy minus CFL's (points)")
    for ax, xl in zip(axes, ("round", "round", "MB sent since the start (log scale)")):
        ax.set_xlabel(xl)
    axes[0].set_xlim(0.5, len(acc) - 0.5)
    axes[1].set_xlim(0.5, len(acc) - 0.5)
    axes[2].set_xscale("log")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- mixing operators
def mixing_gap(M):
    """``1 - |λ₂|`` of a (row-stochastic, possibly non-symmetric) mixing operator (0, not a rounding error
    below it, when several eigenvalues have modulus 1)."""
    ev = np.sort(np.abs(np.linalg.eigvals(np.asarray(M, float))))[::-1]
    return float(max(0.0, 1 - ev[1]))


def bilayer_round_operator(graph, labels, heads, sizes, g_intra, g_inter):
    """The linear map one bilayer round applies to the devices' models (rows), measured on the identity,
    and the round's transmissions."""
    n = len(labels)
    M, traffic, _ = Bilayer(graph, labels, heads).round(np.eye(n), sizes, np.ones(n, bool), g_intra=g_intra,
                                                        g_inter=g_inter)
    return M, traffic.messages


def gossip_operator(graph, steps):
    """``W^steps`` (Metropolis weights on every link) and its transmissions (every link, both ways, per step)."""
    A = adjacency(graph)
    return np.linalg.matrix_power(metropolis_weights(graph).toarray(), steps), int(A.nnz) * steps


def one_hop_operator(graph, sizes):
    """One round of one-hop Cumulative FedAvg as a matrix, and its transmissions."""
    A = adjacency(graph)
    M, traffic = one_hop_average(A, np.eye(A.shape[0]), sizes)
    return M, traffic.messages


# ----------------------------------------------------------------------------- boards
def head_fit_table(heads: dict, *, neighbours: int = 10):
    """Peak SRAM (KiB) of training each head on a device that folds ``neighbours`` models into one
    Cumulative FedAvg sum, and the headroom (KiB; negative = does not fit) on every board of
    ``data/boards.toml`` under the package's device assumptions (75 % of SRAM usable).

    ``heads``: label -> (layer sizes, optimizer, batch size)."""
    profiles = {label: profile(mlp_layers(list(sizes)), optimizer=opt, batch_size=batch, aggregation="cumulative",
                               neighbours=neighbours, name=label)
                for label, (sizes, opt, batch) in heads.items()}
    table = fit_table(profiles, load_boards())
    table.insert(0, "peak SRAM (KiB)", [p.sram_bytes / 1024 for p in profiles.values()])
    return table


# ----------------------------------------------------------------------------- the lesson's bookkeeping
def lesson_parameters(namespace: dict) -> dict:
    """The UPPER-CASE numbers, strings, booleans and tuples of a notebook's namespace (its parameters)."""
    simple = (int, float, str, bool, tuple, list, type(None))
    return {k: v for k, v in namespace.items() if k.isupper() and isinstance(v, simple)}


def record_iid_claims(claims, per_seed, table, *, target, band, min_seeds):
    """Section 5's claims: the paper's ~1.8 extra rounds for this lesson's bilayer (judged from ``min_seeds``
    seeds on), and the bilayer's bytes against D-PSGD's."""
    mean, _ = mean_se(per_seed)
    if len(per_seed) >= min_seeds:
        claims.reproduction(
            "iid_extra_rounds_vs_cfl", mean, op="==", target=PAPER_EXTRA_ROUNDS, tolerance=band,
            tolerance_reason=EXTRA_BAND_REASON, honest_negative=why_not_paper(mean, band), unit="rounds", source=PAPER,
            where="abstract", differs=differs("the softmax learner (this lesson's bilayer)"),
            claim=f"on IID data bilayer gossip needs ~1.8 extra rounds over CFL to reach {target:.0%} "
                  f"(mean over {len(per_seed)} seeds)",
            note=f"extra rounds per seed {rounds_list(per_seed)}; a negative value means the bilayer was faster")
    mb = table["MB"]
    ratio = None if mb["D-PSGD"] is None or mb["bilayer"] is None else mb["bilayer"] / mb["D-PSGD"]
    claims.sanity("iid_bilayer_bytes_vs_dpsgd", ratio, op="<", target=1.0, unit="×",
                  claim=f"the bilayer reaches {target:.0%} with fewer bytes than D-PSGD on the radio graph — by design: "
                        "D-PSGD gossips once per minibatch, the bilayer once per round, so with rounds to target alike the "
                        "ratio is fixed by the protocols")


def record_alpha_claims(claims, alphas, per_seed_rows, *, loss_bound, seeds):
    """Section 6's claims, over ``seeds`` seeds with a noise band of two standard errors: the paper's < 8 % at
    α = 0.5 (relative reading) and the cost of strong skew (paired per seed)."""
    d = alphas.loc[0.5]
    claims.reproduction(
        "alpha05_relative_loss_softmax", float(d["loss (% of CFL)"]), op="<", target=loss_bound, unit="%", source=PAPER,
        noise=2 * d["SE (%)"] if d["SE (%)"] else 0.0, noise_reason="two standard errors over seeds",
        where="abstract", differs=differs("the softmax learner") + "; the paper's '8 %' read as relative loss",
        claim=f"at Dirichlet α = 0.5 the bilayer's accuracy loss against CFL stays under {loss_bound:g} % "
              f"(mean over {seeds} seeds)",
        note=f"absolute loss {d['loss (points)']:.2f} points; CFL {d['CFL']:.4f}, bilayer {d['bilayer (devices)']:.4f}")
    by = {(r["α"], r["seed"]): r["loss (points)"] for r in per_seed_rows}
    diff, se = mean_se([by[(0.1, s)] - by[(10.0, s)] for s in sorted({s for _, s in by})])
    claims.finding("skew_costs_accuracy", diff, op=">", target=0.0, unit="pp", noise=2 * se if se else 0.0,
                   noise_reason="two standard errors of the per-seed paired difference",
                   claim=f"stronger label skew (α = 0.1) costs the bilayer more accuracy against CFL than α = 10 "
                         f"(mean over {seeds} seeds)")


def record_range_claim(claims, sweep, stable, *, seeds):
    """Section 7's claim: rounds to target stop improving below the longest range tried — the stable range has
    at least two longer ranges above it (never reached at the longest range, or a grid of fewer than three
    ranges, is NOT MET)."""
    grid = list(sweep.index)
    bound = float(grid[-3]) if len(grid) >= 3 else float("-inf")
    claims.finding("range_where_convergence_stabilises", stable, op="<=", target=bound, unit="m",
                   claim=f"within the 15–60 range the source summary suggests trying, rounds to target stop improving by more than one round "
                         f"below the longest range, with at least two longer ranges tried (mean over {seeds} seeds)",
                   note="rounds to target by range: " + "; ".join(f"{r:g} m: {v}" for r, v in sweep["rounds per seed"].items()))


def plot_alpha_losses(alphas, loss_bound):
    """Relative and absolute accuracy loss against CFL by Dirichlet α."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    x = [str(a) for a in alphas.index]
    ax.plot(x, alphas["loss (% of CFL)"], marker="o", label="relative loss (% of CFL)")
    ax.plot(x, alphas["loss (points)"], marker="x", linestyle="--", label="absolute loss (points)")
    ax.axhline(loss_bound, color="grey", linestyle=":", label=f"paper's bound {loss_bound:g}")
    ax.set_xlabel("Dirichlet α (smaller = more label skew)")
    ax.set_ylabel("accuracy loss vs CFL")
    ax.set_ylim(bottom=min(0.0, float(alphas[["loss (% of CFL)", "loss (points)"]].min().min())) - 0.2)
    ax.legend(loc="center left")
    return fig


def stable_range(sweep):
    """The smallest range from which every longer range reaches the target within one round of the longest
    range's count; None if the longest range never reaches it."""
    rounds = sweep["rounds"]
    if rounds.isna().iloc[-1]:
        return None
    ok = rounds.notna() & (rounds.fillna(np.inf) <= rounds.iloc[-1] + 1)
    tail = ok[::-1].cumprod()[::-1].astype(bool)
    return float(tail[tail].index.min())


def fault_table(faults, target):
    """Rounds to ``target``, final accuracy and mean live devices of each fault setting's History."""
    import pandas as pd

    return pd.DataFrame({name: {"rounds to target": h.rounds_to_reach(target, column="device_accuracy"),
                                "final acc": h.column("device_accuracy")[-1],
                                "live devices (mean)": float(np.mean(h.column("live_devices", initial=False)))}
                         for name, h in faults.items()}).T


def plot_faults(faults, target):
    """The devices' mean accuracy per round (from round 1) under each fault setting."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for name, h in faults.items():
        acc = h.column("device_accuracy", initial=False)
        ax.plot(range(1, len(acc) + 1), acc, marker=".", label=name)
    ax.axhline(target, color="grey", linestyle=":", label=f"target {target:.0%}")
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (devices' models)")
    ax.set_ylim(0.0, 1.0)
    ax.legend(loc="lower right")
    return fig


def plot_swarm(G, B, pos, km, radio_range):
    """The radio graph next to the bilayer graph (clusters coloured, heads circled)."""
    import matplotlib.pyplot as plt

    from tinydtl.lab.plots import draw_graph

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    draw_graph(G, axes[0], title=f"radio graph, 100 m × 100 m field, range {radio_range:.0f} m: {G.number_of_edges()} links")
    draw_graph(B, axes[1], node_color=[f"C{c}" for c in km.labels],
               title=f"bilayer graph: {len(km.heads)} DK-means clusters, {B.number_of_edges()} links")
    axes[1].scatter(*pos[km.heads[km.heads >= 0]].T, s=180, facecolors="none", edgecolors="black", label="heads")
    axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside the field: covers no node
    return fig


def plot_gaps(gaps):
    """Spectral gap per mixing operator, each bar labelled with its transmissions."""
    ax = gaps["spectral gap"].plot.barh(figsize=(8, 2.8))
    for i, m in enumerate(gaps["transmissions"]):
        ax.text(gaps["spectral gap"].iloc[i], i, f" {int(m):,} transmissions", va="center", fontsize=8)
    ax.set_xlim(0, 1.25)
    ax.set_xlabel("spectral gap 1 − |λ₂|  (1 = every device holds the average)")
    return ax.figure


def cfa_precision(n_models: int, seed: int = 0, width: int = 64) -> dict:
    """Relative error of Cumulative FedAvg after ``n_models`` random models with random sample counts,
    accumulated in float32 and in float64, against a correctly rounded reference: every product ``n_k w_k`` of
    a float32 weight and a count below 2,048 is exact in float64, and ``math.fsum`` sums them exactly before
    the one division."""
    import math

    from tinydtl.core.aggregation import CumulativeFedAvg

    rng = np.random.default_rng(seed)
    models = rng.normal(0, 0.05, size=(n_models, width)).astype(np.float32)
    counts = rng.integers(100, 2000, size=n_models).astype(np.float64)
    products = counts[:, None] * models.astype(np.float64)
    exact = np.array([math.fsum(col) for col in products.T]) / math.fsum(counts)
    errors = {}
    for dtype in (np.float32, np.float64):
        acc = CumulativeFedAvg(dtype)
        for m, c in zip(models, counts):
            acc.add([m], c)
        errors[np.dtype(dtype).name] = float(np.max(np.abs(acc.result()[0] - exact)) / np.max(np.abs(exact)))
    return errors
