"""Lesson 01 (the survey's taxonomy): the bookkeeping the notebook runs but need not show.

* split learning against FedAvg of the same MLP on the same devices, like for like — after the same epochs
  and to the same accuracy, every byte counted (activations, labels, hand-overs of layer 1):
  :func:`split_vs_fedavg`, :func:`plot_split_vs_fedavg`;
* the robust-aggregation sweep (aggregators × attackers), its figure and claims: :func:`robust_sweep`,
  :func:`plot_robust`, :func:`record_robust_claims`;
* FedAvg with compressed updates, its figure and claims: :data:`COMPRESSIONS`, :func:`compression_sweep`,
  :func:`plot_compression`, :func:`record_compression_claims`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.core.traffic import payload_bytes
from tinydtl.devices.assumptions import ASSUMPTIONS

__all__ = ["COMPRESSIONS", "compression_other_seed", "compression_sweep", "split_gain_other_seed", "plot_compression", "plot_robust", "plot_split_vs_fedavg",
           "record_compression_claims", "record_robust_claims", "record_split_claims", "robust_sweep", "split_vs_fedavg",
           "draw_explore", "partitioning_table", "split_summary", "widget_settings", "widget_table"]

RADIO = "BLE 1M"  # the radio whose bit rate turns bytes into air time (tinydtl.devices.assumptions)


def _to_target(accuracy, megabytes, target):
    """First epoch (row) whose accuracy reaches ``target`` and the cumulative MB then; ``(None, None)`` if never."""
    hit = np.flatnonzero(np.asarray(accuracy) >= target)
    return (int(hit[0]), float(megabytes[hit[0]])) if hit.size else (None, None)


def split_vs_fedavg(split, fedavg, fedavg_round, *, n_samples: int, target: float):
    """Split learning's history against FedAvg's (same MLP, same devices, one epoch = one round).

    ``fedavg_round`` is a server round's :class:`~tinydtl.core.traffic.Traffic` (each device uploads its model,
    the server sends the average back: :func:`~tinydtl.core.traffic.star_traffic`). Returns ``(per_epoch, summary)``: accuracy and cumulative decimal MB per epoch for both,
    and one column per scheme — accuracy after the last epoch, epochs and MB to ``target`` (``None``: never
    reached), MB and transmissions per epoch, air time per epoch at :data:`RADIO`, labels the server sees."""
    epochs = split.rounds
    split_mb = (split.cumulative("bytes_up") + split.cumulative("bytes_down")) / 1e6
    fed_mb = np.arange(epochs + 1) * (fedavg_round.bytes_up + fedavg_round.bytes_down) / 1e6
    per_epoch = pd.DataFrame({"split learning: accuracy": split.column("accuracy"), "split learning: MB": split_mb,
                              "FedAvg: accuracy": fedavg.column("accuracy"), "FedAvg: MB": fed_mb},
                             index=pd.RangeIndex(epochs + 1, name="epoch"))
    rate = ASSUMPTIONS.bitrate_bps(RADIO)
    rows = {}
    for name, acc, mb, messages, labels in (
            ("split learning", split.column("accuracy"), split_mb, split.column("messages")[-1], n_samples),
            ("FedAvg", fedavg.column("accuracy"), fed_mb, fedavg_round.messages, 0)):
        reached, mb_then = _to_target(acc, mb, target)
        per_epoch_bytes = 1e6 * mb[-1] / epochs
        rows[name] = {f"accuracy after {epochs} epochs": round(float(acc[-1]), 4), f"epochs to {target:.0%}": reached,
                      f"MB to {target:.0%}": None if mb_then is None else round(mb_then, 3),
                      "MB per epoch": round(per_epoch_bytes / 1e6, 3), "transmissions per epoch": int(messages),
                      f"air time per epoch at {RADIO} (s)": round(8 * per_epoch_bytes / rate, 1),
                      "labels the server receives per epoch": int(labels)}
    return per_epoch, pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in rows.items()})  # None stays None


def plot_split_vs_fedavg(per_epoch: pd.DataFrame, target: float, ax):
    """Test accuracy against cumulative MB moved, one marker per epoch, the target as a dotted line."""
    for name, marker in (("split learning", "o"), ("FedAvg", "s")):
        ax.plot(per_epoch[f"{name}: MB"], per_epoch[f"{name}: accuracy"], marker=marker, label=name)
    ax.axhline(target, color="grey", linestyle=":", label=f"target {target:.0%}")
    ax.set_xlabel("MB moved so far, all links (decimal MB)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    return ax


def split_summary(per_epoch: pd.DataFrame, table: pd.DataFrame, target: float, *, n_images: int, n_devices: int,
                  batch: int) -> str:
    """The printed reading of the split-vs-FedAvg run: accuracy per epoch of both, then bytes to ``target``."""
    acc = lambda name: ", ".join(f"{a:.4f}" for a in per_epoch[f"{name}: accuracy"].iloc[1:])  # noqa: E731
    lines = [f"test accuracy per epoch: split learning {acc('split learning')}", f"{'':24}FedAvg {acc('FedAvg')}",
             f"a FedAvg round is {n_images // (n_devices * batch)} local steps per device"]
    e_split, e_fed = table.loc[f"epochs to {target:.0%}", ["split learning", "FedAvg"]]
    mb_split, mb_fed = table.loc[f"MB to {target:.0%}", ["split learning", "FedAvg"]]
    if e_split is not None and e_fed is not None:
        lines.append(f"to {target:.0%}: split learning {mb_split:.2f} MB in {e_split} epoch(s), FedAvg {mb_fed:.2f} MB in "
                     f"{e_fed} round(s): at {n_images:,} images {'split learning' if mb_split < mb_fed else 'FedAvg'} "
                     "moves fewer bytes")
    else:
        lines.append(f"to {target:.0%}: split learning {'never' if e_split is None else f'{e_split} epoch(s)'}, FedAvg "
                     f"{'never' if e_fed is None else f'{e_fed} round(s)'} within {len(per_epoch) - 1} epochs")
    return "\n".join(lines)


def _seed_band(values) -> tuple[float, float, str]:
    """Mean over seeds, a noise band of two standard errors (0 with one seed) and its reason."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), 0.0, ""
    return float(v.mean()), float(2 * v.std(ddof=1) / np.sqrt(len(v))), f"two standard errors over {len(v)} seeds"


def split_gain_other_seed(x, y, x_test, y_test, *, n_devices, hidden, epochs, batch, lr, seed) -> float:
    """Split learning's accuracy gain (points) over FedAvg of the same MLP after the same epochs, for one seed."""
    from tinydtl.algorithms.decentralized import run_decentralized
    from tinydtl.algorithms.split import run_split_learning
    from tinydtl.data.partition import iid
    from tinydtl.learners.mlp import MLPModel
    from tinydtl.networks.topology import complete

    parts = iid(y, n_devices, seed=seed)
    split = run_split_learning(x, y, parts, hidden=hidden, epochs=epochs, batch_size=batch, lr=lr, x_test=x_test,
                               y_test=y_test, seed=seed)
    fed = run_decentralized(x, y, parts, scheme="local_sgd_gossip", graph=complete(n_devices), rounds=epochs,
                            batch_size=batch, lr=lr, model=MLPModel(int(np.prod(np.shape(x)[1:])), hidden, 10), x_test=x_test,
                            y_test=y_test, seed=seed)
    return 100 * (split.column("accuracy")[-1] - fed.column("accuracy")[-1])


def record_split_claims(claims, split, fedavg, *, n_images, n_devices, hidden, epochs, seed, other_seeds=()) -> float:
    """Split learning's accuracy gain over FedAvg of the same MLP after the same epochs (a finding: the mean over
    ``seed`` and ``other_seeds``' gains, with two standard errors as its noise band); returns the mean."""
    gains = [100 * (split.column("accuracy")[-1] - fedavg.column("accuracy")[-1]), *other_seeds]
    gain, noise, reason = _seed_band(gains)
    claims.finding("split_accuracy_gain_same_epochs_pp", gain, op=">", target=0.0, unit="pp", noise=noise,
                   noise_reason=reason,
                   note=f"{n_images:,} images on {n_devices} devices, h = {hidden}, {epochs} epochs; mean over "
                        f"{len(gains)} seed(s) from {seed}: " + ", ".join(f"{g:+.2f}" for g in gains),
                   claim="after the same epochs over the same images, split learning (devices in turn) ends more "
                         "accurate than FedAvg of the same MLP on the same devices")
    claims.metric("split_accuracy", split.column("accuracy")[-1])
    claims.metric("fedavg_mlp_accuracy", fedavg.column("accuracy")[-1])
    return gain


def partitioning_table(model_bytes: int, layer1_bytes: int, minibatch_up: int) -> pd.DataFrame:
    """What a device holds and sends under each partitioning (section 3), numbers formatted for reading."""
    from tinydtl.devices.assumptions import kib

    def row(holds, weights, sends, per_minibatch, per_round):
        return {"device holds": holds, "weights on device (KiB)": f"{kib(weights):.1f}", "sends": sends,
                "bytes up per minibatch": f"{per_minibatch:,}", "model bytes sent per round or epoch": per_round}

    return pd.DataFrame({
        "data-parallel (FedAvg)": row("whole model + its own data", model_bytes, "model update to the server, once "
                                      "per round", 0, f"{model_bytes:,} (to the server)"),
        "model-parallel (split)": row("layer 1 + its own data", layer1_bytes, "activations + labels every minibatch; "
                                      "layer 1 to the next device once per epoch", minibatch_up,
                                      f"{layer1_bytes:,} (hand-over to the next device)"),
        "hybrid": row("layer 1; devices average layer 1 with FedAvg", layer1_bytes, "activations + labels, and the "
                      "layer-1 update", minibatch_up, f"{layer1_bytes:,} (to the server)"),
    }).T


# ----------------------------------------------------------------------------- robust aggregation
AGGREGATORS = ("mean", "median", "trimmed_mean")


def robust_sweep(x, y, parts, x_test, y_test, *, attacker_counts, rounds: int, seed: int) -> pd.DataFrame:
    """Final test accuracy of FedAvg for every aggregator × number of attackers (index: attackers)."""
    out = {(agg, a): run_fedavg(x, y, parts, x_test=x_test, y_test=y_test, rounds=rounds, seed=seed, attackers=a,
                                aggregator=agg).column("accuracy")[-1]
           for agg in AGGREGATORS for a in attacker_counts}
    table = pd.Series(out).unstack(0)[list(AGGREGATORS)]
    table.index.name = "malicious devices"
    return table


def plot_robust(robust: pd.DataFrame, trimmed_per_side: int, n_clients: int, rounds: int, ax):
    """Accuracy against attackers per aggregator; the trim as a dotted line; the legend outside the axes."""
    for agg, marker in zip(robust.columns, "osD"):
        ax.plot(robust.index, robust[agg], marker=marker, label=agg)
    ax.axvline(trimmed_per_side, color="grey", linestyle=":", label=f"values trimmed per side ({trimmed_per_side})")
    ax.set_xlabel(f"malicious devices (of {n_clients})")
    ax.set_ylabel(f"test accuracy after {rounds} rounds")
    ax.set_xticks(list(robust.index))
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def record_robust_claims(claims, robust: pd.DataFrame, *, attackers: int, trimmed_per_side: int, trim: float,
                         n_clients: int, rounds: int, seed: int) -> str:
    """The robustness claims — the mean's collapse, the median's hold and the trimmed mean within its trim are sanity
    checks (foregone under this attack); the trimmed mean beyond its trim is the finding; returns the attack note."""
    clean = robust.loc[0, "mean"]
    note = (f"attack: each malicious device sends i.i.d. N(0, 10²) noise instead of its update every round; trimmed "
            f"mean trim {trim:.0%} = {trimmed_per_side} of {n_clients} per side; {rounds} rounds, IID, seed {seed}")
    claims.sanity("mean_with_attackers", robust.loc[attackers, "mean"], op="<=", target=0.5, note=note,
                  source="foregone under this attack: the mean follows noise 100 times an honest update's size",
                  claim=f"plain FedAvg averaging collapses with {attackers} of {n_clients} devices malicious "
                        "(accuracy <= 50 %)")
    claims.sanity("median_loss_with_attackers_pp", 100 * (clean - robust.loc[attackers, "median"]), op="<=",
                  target=2.0, unit="pp", note=note,
                  source="by construction: with fewer than K/2 attackers each coordinate's median lies between honest "
                         "values (Yin et al. 2018)",
                  claim=f"the coordinate median loses at most 2 points against the clean mean with {attackers} of "
                        f"{n_clients} malicious")
    if 0 < attackers <= trimmed_per_side:
        claims.sanity("trimmed_mean_within_trim_pp", 100 * (clean - robust.loc[attackers, "trimmed_mean"]), op="<=",
                      target=2.0, unit="pp", note=note,
                      source="by construction under this attack (Yin et al. 2018: trimmed mean needs attackers <= trim)",
                      claim=f"with {attackers} attackers (<= {trimmed_per_side} trimmed per side) the trimmed mean loses "
                            "at most 2 points: the noise is exactly what gets trimmed")
    beyond = [a for a in robust.index if a > trimmed_per_side]
    if beyond:
        claims.finding("trimmed_mean_beyond_trim_loss_pp", 100 * (clean - robust.loc[beyond[0], "trimmed_mean"]),
                       op=">", target=10.0, unit="pp", note=note,
                       claim=f"once attackers exceed the trim ({beyond[0]} > {trimmed_per_side} per side) the trimmed "
                             "mean fails: it loses more than 10 points against the clean mean")
    return note


# ----------------------------------------------------------------------------- compression
COMPRESSIONS = [("float32", {}), ("8-bit", dict(compression="q8")), ("4-bit", dict(compression="q4")),
                ("2-bit", dict(compression="q2")), ("top-10 %", dict(compression="top0.1")),
                ("top-1 %", dict(compression="top0.01")),
                ("top-1 % + error feedback", dict(compression="top0.01", error_feedback=True))]


def compression_sweep(x, y, parts, x_test, y_test, *, rounds: int, seed: int) -> pd.DataFrame:
    """Final test accuracy and MB uploaded (compressed sizes) of FedAvg for every compression."""
    rows = {}
    for label, kw in COMPRESSIONS:
        h = run_fedavg(x, y, parts, x_test=x_test, y_test=y_test, rounds=rounds, seed=seed, **kw)
        rows[label] = {"test accuracy": h.column("accuracy")[-1], "MB uploaded": h.cumulative("bytes_up")[-1] / 1e6}
    comm = pd.DataFrame(rows).T
    comm["bytes saved"] = 1 - comm["MB uploaded"] / comm.loc["float32", "MB uploaded"]
    return comm


def plot_compression(comm: pd.DataFrame, ax):
    """Accuracy against MB uploaded (log x), one labelled point per compression."""
    ax.scatter(comm["MB uploaded"], comm["test accuracy"])
    below = {"top-10 %", "top-1 % + error feedback"}  # their points sit next to another's: label them underneath
    for label, row in comm.iterrows():
        ax.annotate(label, (row["MB uploaded"], row["test accuracy"]), fontsize=8, textcoords="offset points",
                    xytext=(4, -11) if label in below else (4, 3))
    ax.set_xscale("log")
    ax.set_xlabel("MB uploaded (all devices, all rounds; decimal MB)")
    ax.set_ylabel("test accuracy")
    ax.set_xlim(right=comm["MB uploaded"].max() * 4)  # room for the labels
    ax.set_ylim(0, 1)
    return ax


def compression_other_seed(x, y, x_test, y_test, *, n_clients, rounds, seed) -> dict:
    """For one seed: 8-bit's accuracy cost (points) and error feedback's recovered share of top-1 %'s loss."""
    from tinydtl.data.partition import iid

    parts = iid(y, n_clients, seed=seed)
    acc = {label: run_fedavg(x, y, parts, x_test=x_test, y_test=y_test, rounds=rounds, seed=seed,
                             **kw).column("accuracy")[-1]
           for label, kw in COMPRESSIONS if label in ("float32", "8-bit", "top-1 %", "top-1 % + error feedback")}
    gap = acc["float32"] - acc["top-1 %"]
    return {"q8_cost_pp": 100 * (acc["float32"] - acc["8-bit"]),
            "ef_share": (acc["top-1 % + error feedback"] - acc["top-1 %"]) / gap if gap > 0.01 else None}


def record_compression_claims(claims, comm: pd.DataFrame, *, n_params: int, rounds: int, n_clients: int, seed: int,
                              other_seeds=()):
    """The compression findings (means over ``seed`` and the dicts of :func:`compression_other_seed` in
    ``other_seeds``, two standard errors as noise band) and the byte ratio's sanity check; returns the note."""
    f32, top1, ef = (comm.loc[k, "test accuracy"] for k in ("float32", "top-1 %", "top-1 % + error feedback"))
    note = (f"{n_clients} IID clients, {rounds} rounds, {1 + len(other_seeds)} seed(s) from {seed}; seed {seed}: "
            f"float32 {f32:.4f}, top-1 % {top1:.4f}, top-1 % + EF {ef:.4f}")
    gap = f32 - top1
    costs = [100 * (f32 - comm.loc["8-bit", "test accuracy"]), *(o["q8_cost_pp"] for o in other_seeds)]
    shares = [(ef - top1) / gap if gap > 0.01 else None, *(o["ef_share"] for o in other_seeds)]
    cost, cost_noise, reason = _seed_band(costs)
    claims.finding("q8_accuracy_cost_pp", cost, op="<=", target=1.0, unit="pp", note=note, noise=cost_noise,
                   noise_reason=reason, claim="8-bit stochastic quantisation of the updates costs at most 1 accuracy point")
    claims.sanity("q8_upload_ratio", comm.loc["8-bit", "MB uploaded"] / comm.loc["float32", "MB uploaded"], op="==",
                  target=(n_params + 8) / payload_bytes(n_params), tolerance=1e-9,
                  tolerance_reason="floating-point division only",
                  source="closed form: n bytes + 8 (range) vs 4n bytes per update",
                  claim=f"8-bit updates upload (n + 8) / 4n of float32's bytes (n = {n_params:,})")
    share, share_noise, reason = (None, 0.0, "") if None in shares else _seed_band(shares)
    claims.finding("error_feedback_recovered_fraction", share, op=">=", target=0.5, note=note, noise=share_noise,
                   noise_reason=reason,
                   source="tinydtl; error feedback as in Seide et al. 2014 ('1-Bit Stochastic Gradient Descent…') and "
                          "Karimireddy et al. 2019 ('Error Feedback Fixes SignSGD…')",
                   claim="error feedback recovers at least half of the accuracy top-1 % sparsification loses: "
                         "(EF − top-k) / (float32 − top-k) >= 0.5")
    return note


# ----------------------------------------------------------------------------- the widget's outcomes
def widget_settings(n_clients: int, trimmed_per_side: int, with_trimmed_mean: bool) -> dict:
    """The widget's settings the lesson tabulates: label -> (aggregator, attackers, compression, error feedback)."""
    half = n_clients // 2  # the attackers slider's end
    settings = {"defaults: mean, no attacker, float32": ("mean", 0, "none", False),
                "mean, 1 attacker": ("mean", 1, "none", False),
                f"median, {half - 1} attackers": ("median", half - 1, "none", False),
                f"median, {half} attackers (the slider's end)": ("median", half, "none", False)}
    if with_trimmed_mean:
        k = trimmed_per_side
        settings.update({f"trimmed mean, {k} attackers (= trimmed per side)": ("trimmed_mean", k, "none", False),
                         f"trimmed mean, {k + 1} attackers": ("trimmed_mean", k + 1, "none", False)})
    settings.update({"mean, 2-bit": ("mean", 0, "q2", False), "mean, top-1 %": ("mean", 0, "top0.01", False),
                     "mean, top-1 % + error feedback": ("mean", 0, "top0.01", True)})
    return settings


def widget_table(widget_run, settings: dict) -> pd.DataFrame:
    """One row per setting from the widget's own (cached) runs: final accuracy, points against the first
    setting (the clean run), MB uploaded and the share of the clean run's bytes."""
    clean_acc, clean_up = widget_run(*next(iter(settings.values())))
    rows = {}
    for label, args in settings.items():
        acc, up = widget_run(*args)
        rows[label] = {"final accuracy": acc[-1], "points vs clean": 100 * (acc[-1] - clean_acc[-1]),
                       "MB uploaded": up[-1] / 1e6, "% of float32's bytes": 100 * up[-1] / clean_up[-1]}
    return pd.DataFrame(rows).T


def draw_explore(acc, up, acc0, up0, label: str, test_images: int):
    """The widget's figure: test accuracy per round (left) and MB uploaded so far (right), each against the
    clean run (plain mean, float32, no attacker) dashed; legends below the axes, never over the curves."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4.4))
    rounds = np.arange(len(acc))
    ax[0].plot(rounds, acc, marker="o", label=label)
    ax[0].plot(rounds, acc0, "--", color="grey", label="clean: mean, float32, no attacker")
    ax[0].set(ylim=(0, 1), xlabel="round", ylabel=f"test accuracy ({test_images:,} images)")
    ax[0].set_title(f"final accuracy {acc[-1]:.3f} (clean {acc0[-1]:.3f})", fontsize=10)
    ax[1].plot(rounds, up / 1e6, marker="o", label=label)
    ax[1].plot(rounds, up0 / 1e6, "--", color="grey", label="float32")
    ax[1].set(xlabel="round", ylabel="MB uploaded so far (all devices)")
    ax[1].set_title(f"{up[-1] / 1e6:.3f} MB uploaded ({up[-1] / up0[-1]:.1%} of float32)", fontsize=10)
    for a in ax:
        a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    fig.tight_layout()
    return fig
