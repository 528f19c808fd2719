"""Run a :class:`~tinydtl.papers.bilayer.presets.SwarmConfig` and its CFL baseline; the ablation of extra rounds.

One run of a configuration at one seed places ``n_devices`` in the field (seeded), deals the devices'
share of the data (IID, or Dirichlet ``alpha``), moves them if ``speed > 0``
(:func:`tinydtl.networks.mobility.random_direction`), trains the dense head
(:class:`tinydtl.learners.head.DenseHead`) on the frozen features with
:func:`tinydtl.algorithms.decentralized.run_decentralized`, and trains CFL — FedAvg with a server,
every device, the **same** local training — on the same data. CFL is FedAvg written on the bilayer
trainer (one cluster on a star whose hub is the server; exact weighted FedAvg). Both are measured the
same way: the mean test accuracy of the devices' own models (under CFL every device holds the global
model after the round).

**Extra rounds** at one seed = (swarm's first round with accuracy >= target) − (CFL's); ``None`` when
either never reaches it (never a number that happens to pass).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.algorithms.dk_means import dk_means
from tinydtl.core.simulation import StopTraining
from tinydtl.core.validation import check_number
from tinydtl.data.partition import dirichlet, iid
from tinydtl.learners.head import DenseHead
from tinydtl.networks.mobility import random_direction
from tinydtl.networks.topology import bilayer_graph, components, geometric_adjacency, place_devices
from tinydtl.networks.transport import MovingDevices
from tinydtl.papers.bilayer.presets import SwarmConfig

__all__ = ["SwarmData", "ablation_table", "extra_rounds", "run_ablation", "run_cfl", "run_swarm", "stop_at", "summarise"]


@dataclass(frozen=True)
class SwarmData:
    """Features and labels; ``pool`` = the rows the devices may hold (the extractor's rows excluded)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pool: np.ndarray


def deal(config: SwarmConfig, data: SwarmData, seed: int, alpha=None) -> list[np.ndarray]:
    """Each device's rows of ``data.x_train``: IID (``alpha=None``) or Dirichlet(``alpha``) over the pool."""
    y = data.y_train[data.pool]
    local = iid(y, config.n_devices, seed=seed) if alpha is None else dirichlet(y, config.n_devices, alpha, seed=seed)
    return [data.pool[p] for p in local]


def clusters_of(config: SwarmConfig, positions, seed: int):
    """DK-means clusters and heads; DK-means gossips over the radio graph, or over the shortest range
    (in 5-unit steps) that connects the field when the radio graph is split."""
    r = config.radio_range
    while len(components(geometric_adjacency(positions, r))) > 1:
        r += 5.0
    km = dk_means(positions, config.clusters, geometric_adjacency(positions, r), seed=seed)
    return km.labels, km.heads


def network_kwargs(config: SwarmConfig, rounds: int, seed: int) -> dict:
    """``run_decentralized``'s network arguments for ``config`` at ``seed``."""
    pos = place_devices(config.n_devices, side=config.side, seed=seed)
    kw = {"scheme": config.mixing, "init": config.init}
    if config.mixing == "bilayer":
        kw["clusters"], kw["heads"] = clusters_of(config, pos, seed)
        kw.update(g_intra=config.g_intra, g_inter=config.g_inter)
    if config.moving:
        traj = random_direction(pos, rounds, speed=config.speed, side=config.side,
                                turn_probability=config.turn_probability,
                                seed=np.random.default_rng([seed, 7]))
        kw["mobility"] = MovingDevices(traj, config.radio_range)
        if config.mixing == "bilayer":
            kw["head_radius"] = config.head_range
    elif config.mixing == "bilayer":
        kw["graph"] = bilayer_graph(pos, kw["clusters"], kw["heads"], config.radio_range,
                                    head_radius=config.head_range)
    else:
        kw["graph"] = geometric_adjacency(pos, config.radio_range)
    return kw


def head_for(config: SwarmConfig, data: SwarmData) -> DenseHead:
    sizes = (data.x_train.shape[1], *config.hidden, int(data.y_train.max()) + 1)
    return DenseHead(sizes, optimizer=config.optimizer, weight_decay=config.weight_decay,
                     weight_init=config.weight_init)


def training_kwargs(config, data, *, rounds, seed, eval_devices):
    return dict(x_test=data.x_test, y_test=data.y_test, rounds=rounds, seed=seed, lr=config.lr,
                local_epochs=config.local_epochs, batch_size=config.batch_size, model=head_for(config, data),
                eval_devices=min(eval_devices, config.n_devices))


def stop_at(target: float):
    """A controller that ends a run once ``device_accuracy`` reaches ``target`` (rounds to target is all
    an ablation step needs)."""
    check_number("target", target, low=0, high=1)

    def controller(round_done, history, settings):
        if history.column("device_accuracy")[-1] >= target:
            raise StopTraining
        return settings

    return controller


def run_swarm(config: SwarmConfig, data: SwarmData, *, rounds: int, seed: int = 0, eval_devices: int = 10,
              alpha=None, until=None, **faults):
    """The swarm's History (``device_accuracy`` = mean test accuracy of ``eval_devices`` devices' models);
    ``until``: stop once that accuracy is reached."""
    parts = deal(config, data, seed, alpha)
    return run_decentralized(data.x_train, data.y_train, parts, **network_kwargs(config, rounds, seed),
                             **training_kwargs(config, data, rounds=rounds, seed=seed, eval_devices=eval_devices),
                             controller=None if until is None else stop_at(until), **faults)


def run_cfl(config: SwarmConfig, data: SwarmData, *, rounds: int, seed: int = 0, eval_devices: int = 10, alpha=None,
            until=None):
    """CFL with the same devices, data and local training: weighted FedAvg through a server (a star's hub),
    every device starting from the server's one initial model."""
    parts = deal(config, data, seed, alpha)
    n = config.n_devices
    return run_decentralized(data.x_train, data.y_train, parts, scheme="bilayer", graph=nx.star_graph(n - 1),
                             clusters=np.zeros(n, int), heads=np.array([0]), g_intra=0, g_inter=0,
                             **training_kwargs(config, data, rounds=rounds, seed=seed, eval_devices=eval_devices),
                             controller=None if until is None else stop_at(until))


def extra_rounds(swarm, cfl, target: float):
    """``(swarm rounds, CFL rounds, extra)`` to ``target`` device accuracy; ``None`` where never reached."""
    check_number("target", target, low=0, high=1)
    a = swarm.rounds_to_reach(target, column="device_accuracy")
    b = cfl.rounds_to_reach(target, column="device_accuracy")
    return a, b, (None if a is None or b is None else a - b)


def run_ablation(path, data: SwarmData, *, seeds, rounds: int, target: float, eval_devices: int = 10,
                 full_budget=(), progress=None) -> tuple[list[dict], dict]:
    """Every ``(label, config)`` of ``path`` at every seed, each run stopped once it reaches ``target``
    (steps whose index is in ``full_budget`` run all ``rounds``: their final accuracy is compared).

    Returns ``(rows, histories)``: one row per run (rounds to ``target``, extra rounds over CFL, the final
    accuracy of full-budget runs) and ``{"swarm": {(step, seed): History}, "cfl": {(key, seed): History}}``.
    CFL runs once per distinct local training and seed, the full budget when a full-budget step uses it
    (its curve is drawn next to theirs), else until it reaches ``target``."""
    rows, cfl_runs, swarms = [], {}, {}
    drawn = {config.cfl_key() for step, (_, config) in enumerate(path) if step in full_budget}
    for step, (label, config) in enumerate(path):
        for seed in seeds:
            key = (config.cfl_key(), seed)
            if key not in cfl_runs:
                cfl_runs[key] = run_cfl(config, data, rounds=rounds, seed=seed, eval_devices=eval_devices,
                                        until=None if key[0] in drawn else target)
            full = step in full_budget
            swarm = run_swarm(config, data, rounds=rounds, seed=seed, eval_devices=eval_devices,
                              until=None if full else target)
            swarms[(step, seed)] = swarm
            a, b, extra = extra_rounds(swarm, cfl_runs[key], target)
            rows.append({"step": step, "setting": label, "seed": seed, "swarm rounds": a, "CFL rounds": b,
                         "extra rounds": extra,
                         "swarm round 1": float(swarm.column("device_accuracy")[1]),
                         "CFL round 1": float(cfl_runs[key].column("device_accuracy")[1]),
                         "swarm final": float(swarm.column("device_accuracy")[-1]) if full else None})
            if progress is not None:
                progress(rows[-1])
    return rows, {"swarm": swarms, "cfl": cfl_runs}


def summarise(rows) -> list[dict]:
    """Per step: mean ± standard error of the extra rounds over seeds (mean ``None`` if any seed never
    reached the target; SE ``None`` below two seeds)."""
    out = []
    for step in sorted({r["step"] for r in rows}):
        mine = [r for r in rows if r["step"] == step]
        extra = [r["extra rounds"] for r in mine]
        reached = all(e is not None for e in extra)
        vals = np.array([e for e in extra if e is not None], float)
        se = float(vals.std(ddof=1) / np.sqrt(len(vals))) if reached and len(vals) > 1 else None
        out.append({"step": step, "setting": mine[0]["setting"], "seeds": len(mine),
                    "extra rounds (mean)": float(vals.mean()) if reached and len(vals) else None, "SE": se,
                    "extra rounds per seed": extra, "CFL rounds per seed": [r["CFL rounds"] for r in mine],
                    "swarm round 1": float(np.mean([r["swarm round 1"] for r in mine])),
                    "CFL round 1": float(np.mean([r["CFL round 1"] for r in mine]))})
    return out


def ablation_table(rows):
    """:func:`summarise` as a pandas DataFrame indexed by step and setting."""
    import pandas as pd

    return pd.DataFrame(summarise(rows)).set_index(["step", "setting"])
