"""Lesson 11 (privacy and security): the figures, the experiment bookkeeping and the claims.

The notebook keeps the ideas, the from-scratch code and the reading; what only draws, runs a grid
or records a claim lives here so that the lesson stays short.
"""

from __future__ import annotations

import numpy as np

from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.devices.assumptions import ASSUMPTIONS, kib
from tinydtl.devices.boards import as_board
from tinydtl.learners.mlp import DeepMLPModel
from tinydtl.privacy import DPConfig, cost_table, neighbour_graph, secure_aggregate

__all__ = ["BELL_SEMI_MALICIOUS", "attack_figure", "clip_figure", "cost_figure", "digits_figure", "dp_curves", "dp_figure",
           "largest_fitting_degree", "secagg_figure", "tff_parity", "TUTORIAL", "tutorial_figure", "tutorial_means",
           "tutorial_sweep", "unmask_figure", "unmask_status"]

#: Bell et al. 2020, abstract: "In the semi-malicious setting with 10^4 clients, each client needs to communicate
#: only with 3% of the clients ... while withstanding up to 5% corrupt clients and 5% dropouts".
BELL_SEMI_MALICIOUS = {"clients": 10_000, "share": 0.03, "corrupt": 0.05, "dropouts": 0.05}

#: The TFF tutorial "Differential Privacy in TFF" (stored outputs, EMNIST, round 100).
TUTORIAL = {
    "source": "TensorFlow Federated tutorial \"Differential Privacy in TFF\" (federated_learning_with_differential_privacy)",
    "accuracy": {0.0: 0.8049814, 0.5: 0.7702537, 0.75: 0.70944357, 1.0: 0.382837},
    "final_accuracy": 0.7955525,
    "clients": 3383, "clients_per_round": 50, "rounds": 100, "final_clients_per_round": 120, "final_z": 1.2,
}


def _digit(ax, img, title):
    ax.imshow(np.asarray(img).reshape(28, 28), cmap="gray_r")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def attack_figure(image, from_update, rows10, rows50):
    """The client's digit and what its update reveals; what two minibatches reveal per class."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 10, figsize=(13, 4.6))
    for ax in axes.flat:
        ax.axis("off")
    _digit(axes[0, 0], image, "client's digit")
    _digit(axes[0, 1], from_update, "from its update")
    ax = axes[0, 2]
    ax.axis("on")
    ax.imshow(np.abs(np.asarray(from_update) - image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("|difference|\n(scale 0-1)", fontsize=9)
    for c in range(10):
        _digit(axes[1, c], rows10[c], f"B=10: class {c}")
        _digit(axes[2, c], rows50[c], f"B=50: class {c}")
    axes[0, 4].text(0, 0.5, "rows 2-3: minus column c of a minibatch gradient (the images labelled c,\n"
                    "blurred by the rest); B=10: one digit per class, B=50: five per class",
                    fontsize=10, va="center", transform=axes[0, 4].transAxes)
    fig.subplots_adjust(hspace=0.35, wspace=0.1, left=0.02, right=0.98, top=0.93, bottom=0.02)
    return fig


def secagg_figure(quantised, masked, reconstruction, nearest, levels):
    """What the server receives (a masked upload: uniform) next to the update it hides, and the
    inversion of the secure total next to its most similar client image."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 3.4))
    ax1, ax2 = fig.add_subplot(1, 4, (1, 2)), fig.add_subplot(1, 4, 3)
    ax3 = fig.add_subplot(1, 4, 4)
    bins = np.linspace(0, 2**32, 65)
    ax1.hist(quantised.astype(float), bins=bins, alpha=0.7, label="client's quantised update x_u")
    ax1.hist(masked.astype(float), bins=bins, alpha=0.7, label="what the server receives, y_u")
    ax1.set_xlabel("value (integers mod 2³²)")
    ax1.set_ylabel("coordinates")
    ax1.set_yscale("symlog")
    ax1.legend(loc="upper right", fontsize=8)
    ax1.set_title(f"one upload ({len(masked):,} values; levels = {levels:,})", fontsize=10)
    _digit(ax2, reconstruction, "inverted from the secure total")
    _digit(ax3, nearest, "most similar client image")
    fig.tight_layout()
    return fig


def unmask_status(n: int, threshold: int, dropouts: int, neighbours=None, seed: int = 0) -> dict:
    """Run one secure aggregation of ``n`` small updates with the first ``dropouts`` clients of a
    seeded order dropped: did the server unmask, and how many holders of each client's shares survived."""
    rng = np.random.default_rng([seed, 11])
    dropped = tuple(int(u) for u in rng.permutation(n)[:dropouts])
    graph = neighbour_graph(n, neighbours, np.random.default_rng([seed, 0, 2]))
    holders = [len(({u} | set(g.tolist())) - set(dropped)) for u, g in enumerate(graph)]
    U = rng.normal(0, 0.1, size=(n, 64))
    try:
        r = secure_aggregate(U, threshold=threshold, dropped=dropped, neighbours=neighbours, seed=seed)
        ok, message = True, f"unmasked: the exact sum of {len(r.survivors)} survivors"
        exact = bool(np.abs(r.total - U[list(r.survivors)].sum(axis=0)).max() < 1e-4)
    except ValueError as e:
        ok, message, exact = False, str(e), False
    per_secret = n if neighbours is None else neighbours + 1   # the holders of each client's shares
    if 2 * threshold <= per_secret:
        message += (f"\nprivacy: t = {threshold} ≤ {per_secret}/2 holders: a server that tells different clients "
                    "different dropouts can collect t shares of both secrets of one client and unmask its upload")
    return {"ok": ok, "message": message, "holders": holders, "dropped": dropped, "exact": exact,
            "private": 2 * threshold > per_secret}


def unmask_figure(status: dict, threshold: int, title: str):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    n = len(status["holders"])
    colors = ["tab:gray" if u in status["dropped"] else "tab:blue" for u in range(n)]
    ax.bar(range(n), status["holders"], color=colors)
    ax.axhline(threshold, color="tab:red", ls="--", label=f"threshold t = {threshold}")
    ax.set_xlabel("client (grey: dropped after sharing its keys)")
    ax.set_ylabel("surviving holders of its shares")
    ax.set_xticks(range(n))
    ax.set_ylim(0, max(max(status["holders"]), threshold) * 1.35 + 1)  # room for the legend above the bars
    ax.legend(loc="upper right")
    verdict = "UNMASKED" if status["ok"] else "ROUND FAILS"
    if not status.get("private", True):
        verdict += " (t ≤ half the holders: not private against a lying server)"
    ax.set_title(f"{title}: {verdict}", fontsize=10)
    fig.tight_layout()
    return fig


def cost_figure(clients=(10, 100, 1000, 10000), board="Arduino Nano 33 BLE Sense"):
    """Extra RAM and BLE air time per client of SecAgg and SecAgg+ as n grows; returns ``(fig, table)``."""
    import matplotlib.pyplot as plt

    board = as_board(board)
    table = cost_table(clients=clients, boards=(board.name,))
    usable = kib(ASSUMPTIONS.usable_sram_bytes(board.sram_bytes))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.6))
    for scheme, marker in (("FedAvg", "s"), ("SecAgg", "o"), ("SecAgg+", "^")):
        t = table[table.scheme == scheme]
        label = "SecAgg+ (k = 2⌈log₂ n⌉, illustrative)" if scheme == "SecAgg+" else scheme
        a1.plot(t.clients, t["peak SRAM (KiB)"], marker=marker, label=label)
        a2.plot(t.clients, t["air time BLE 1M (s)"], marker=marker, label=scheme)
    a1.axhline(usable, color="tab:red", ls="--", label=f"usable SRAM of the {board.mcu} ({usable:.0f} KiB)")
    n_bell = BELL_SEMI_MALICIOUS["clients"]
    if n_bell in set(table.clients):  # SecAgg+ with the neighbours of Bell et al.'s semi-malicious setting
        k_bell = round(BELL_SEMI_MALICIOUS["share"] * n_bell)
        a1.scatter([n_bell], [_peak_kib(n_bell, k_bell)], marker="*", s=120, color="tab:green", zorder=3,
                   label=f"SecAgg+, k = {k_bell} (Bell et al., semi-malicious)")
    a1.set_ylabel("peak SRAM of a round (KiB)")
    a2.set_ylabel("air time per round at BLE 1M (s)")
    from matplotlib.ticker import NullFormatter, StrMethodFormatter

    for ax in (a1, a2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("clients n")
        ax.legend(loc="upper left", fontsize=8)
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.6g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    a1.set_yticks([100, 200, 500, 1000, 2000, 5000])
    a2.set_yticks([0.5, 1, 2, 5, 10, 20, 50])
    a1.set_title("softmax learner (7,850 parameters), batch 20", fontsize=10)
    a2.set_title("air time of the payload, up and down (lower bound)", fontsize=10)
    fig.tight_layout()
    return fig, table


def dp_curves(x, y, parts, x_test, y_test, z_values, *, clip, sampling_rate, rounds, seed, **kw) -> dict:
    """DP-FedAvg (softmax learner) for each noise multiplier: ``{z: History}``."""
    return {z: run_fedavg(x, y, parts, x_test=x_test, y_test=y_test, rounds=rounds, seed=seed,
                          dp=DPConfig(noise_multiplier=float(z), clip=clip, sampling_rate=sampling_rate), **kw)
            for z in z_values}


def dp_figure(histories: dict, title: str):
    """Accuracy per round and ε spent, one line per noise multiplier."""
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.6))
    for i, (z, h) in enumerate(histories.items()):  # one colour per z in both panels
        a1.plot(h.column("round"), h.column("accuracy"), color=f"C{i}", label=f"z = {z:g}")
        eps = np.array(h.column("epsilon", initial=False), dtype=float)
        if np.isfinite(eps).all():
            a2.plot(h.column("round", initial=False), eps, color=f"C{i}", label=f"z = {z:g}")
    a1.set_xlabel("round")
    a1.set_ylabel("test accuracy")
    a1.legend(loc="lower right", fontsize=8)
    a1.set_title(title, fontsize=10)
    a2.set_xlabel("round")
    a2.set_ylabel("ε spent (RDP, δ from the config)")
    a2.set_yscale("log")
    if a2.lines:  # z = 0 alone draws nothing here (ε = ∞)
        a2.legend(loc="upper left", fontsize=8)
    a2.set_title("privacy spent so far (z = 0: ε = ∞, not drawn)", fontsize=10)
    fig.tight_layout()
    return fig


def tutorial_sweep(x, y, parts, x_test, y_test, *, z_values, seeds, rounds, test_size) -> dict:
    """The TFF tutorial's protocol on MNIST: MLP 784-200-200-10, Poisson sampling, adaptive clipping
    (initial 0.1, median, η_C 0.2), client SGD 0.01 with batch 32, server SGD 1.0 with momentum 0.9.
    Accuracy per round on the first ``test_size`` test images; the final model on all of them.
    ``z_values`` lists ``(z, m)`` pairs (``m`` expected clients per round). Returns
    ``{(z, m, seed): (accuracy per round, final accuracy)}``."""
    out = {}
    model = DeepMLPModel(784, (200, 200), 10)
    for z, m in z_values:
        dp = DPConfig(noise_multiplier=float(z), clip=0.1, sampling_rate=m / len(parts), adaptive_quantile=0.5)
        for seed in seeds:
            h = run_fedavg(x, y, parts, x_test=x_test[:test_size], y_test=y_test[:test_size], rounds=rounds,
                           batch_size=32, client_lr=0.01, server_lr=1.0, server_momentum=0.9, model=model, dp=dp,
                           seed=seed)
            final = model.evaluate(model.flatten(*h.weights), x_test.reshape(len(x_test), -1), y_test)[1]
            out[(z, m, seed)] = (np.array(h.column("accuracy")), final)
    return out


def tutorial_figure(runs: dict):
    """Our MNIST curves on the left; the tutorial's EMNIST numbers on a panel of their own (not comparable)."""
    import matplotlib.pyplot as plt

    fig, (ax, side) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 1]})
    for (z, m) in sorted({k[:2] for k in runs}, key=lambda k: (k[1], k[0])):
        curves = np.array([c for (zz, mm, _), (c, _) in runs.items() if (zz, mm) == (z, m)])
        mean = curves.mean(axis=0)
        ls = "--" if m != TUTORIAL["clients_per_round"] else "-"
        ax.plot(np.arange(len(mean)), mean, ls=ls, label=f"z = {z:g}, {m} clients/round")
        ax.fill_between(np.arange(len(mean)), curves.min(axis=0), curves.max(axis=0), alpha=0.15)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (mean; band: seeds' range)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("our runs: MNIST split over 3,383 clients (curves: 500 test images)", fontsize=10)
    zs, accs = zip(*sorted(TUTORIAL["accuracy"].items()))
    side.plot(zs, accs, marker="x", color="black")
    side.set(xlabel="noise multiplier z", ylabel="accuracy at round 100", ylim=(0, 1))
    side.set_title("the tutorial's numbers\n(EMNIST, 50 clients/round; not comparable)", fontsize=9)
    fig.tight_layout()
    return fig


def tff_parity(x, y, x_test, y_test, *, rounds=3, clip=0.05, clients=10, per_round=5, seed=0) -> dict:
    """z = 0 with a clip that binds: the numpy engine and TFF's DP aggregator round by round; and the
    standard deviation TFF's ``gaussian_fixed`` adds (z = 1.3, C = 0.5, m = 10, 100,000 coordinates). TFF's
    executor logs a harmless grappler line at ERROR level for each computation: dropped, nothing else."""
    from tinydtl.data.partition import iid
    from tinydtl.runtime.processes import no_stray_processes
    from tinydtl.runtime.tensorflow_env import GRAPPLER_NOISE, STARTUP_NOISE, filtered_stderr, import_tensorflow

    sub = np.arange(400 * clients)
    parts = iid(y[sub], clients, seed=seed)
    dp = DPConfig(noise_multiplier=0.0, clip=clip, clients_per_round=per_round)
    with filtered_stderr(STARTUP_NOISE + GRAPPLER_NOISE):
        h = {e: run_fedavg(x[sub], y[sub], parts, x_test=x_test[:2000], y_test=y_test[:2000], engine=e, rounds=rounds,
                           dp=dp, client_lr=0.05, seed=seed) for e in ("numpy", "tff")}
    gap = float(np.abs(np.subtract(h["numpy"].column("accuracy"), h["tff"].column("accuracy"))).max())
    weights = max(float(np.abs(a - b).max()) for a, b in zip(h["numpy"].weights, h["tff"].weights))
    z, C, m, d = 1.3, 0.5, 10.0, 100_000
    with no_stray_processes(), filtered_stderr(STARTUP_NOISE + GRAPPLER_NOISE):
        tff = import_tensorflow(federated=True)
        proc = tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
            noise_multiplier=z, clients_per_round=m, clip=C).create(tff.TensorType(np.float32, [d]))
        noise = np.asarray(proc.next(proc.initialize(), [np.zeros(d, np.float32)] * 4).result)
    return {"accuracy_gap": gap, "weights_gap": weights, "clipped": min(h["numpy"].column("clipped_fraction", initial=False)),
            "noise_ratio": float(noise.std() / (z * C / m))}


def clip_figure(clips: dict, title: str):
    """The clip used per round, one line per initial clip."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    for c0, c in clips.items():
        ax.plot(range(1, len(c) + 1), c, marker=".", label=f"initial C = {c0:g}")
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("clip norm C used")
    ax.legend(loc="upper right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def digits_figure(images, titles):
    """Images of 784 pixels side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(2.4 * len(images), 2.6))
    for ax, img, title in zip(np.atleast_1d(axes), images, titles):
        _digit(ax, img, title)
    fig.tight_layout()
    return fig


def _peak_kib(n: int, k: int, sizes=(784, 10), batch_size: int = 20) -> float:
    """Peak SRAM (KiB) of a training round of ``sizes`` plus a SecAgg+ client with ``k`` neighbours among ``n``."""
    from tinydtl.devices.memory import mlp_layers, profile
    from tinydtl.privacy import client_cost

    layers = mlp_layers(sizes)
    ph = profile(layers, training=True, batch_size=batch_size).phases()
    extra = client_cost(sum(la.weights + la.biases for la in layers), n, k).extra_ram
    return kib(ph["persistent"] + max(ph["train"], ph["exchange"] + extra))


def largest_fitting_degree(n: int, board="Arduino Nano 33 BLE Sense", sizes=(784, 10), batch_size: int = 20) -> int:
    """The most SecAgg+ neighbours ``k`` (even) with which a training round of the dense model ``sizes`` plus
    the protocol still fits ``board``'s usable SRAM among ``n`` clients (0 if none does)."""
    usable = kib(ASSUMPTIONS.usable_sram_bytes(as_board(board).sram_bytes))
    best = 0
    for k in range(2, n, 2):  # the cost grows with k: stop at the first that does not fit
        if _peak_kib(n, k, sizes, batch_size) > usable:
            break
        best = k
    return best


def tutorial_means(runs: dict) -> dict:
    """Mean final accuracy over seeds by ``(z, m)`` of :func:`tutorial_sweep`'s runs."""
    finals = {}
    for (z, m, _), (_, final) in runs.items():
        finals.setdefault((z, m), []).append(final)
    return {k: float(np.mean(v)) for k, v in finals.items()}
