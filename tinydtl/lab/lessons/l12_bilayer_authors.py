"""Lesson 12 (the bilayer paper under its authors' configuration): the ablation's bookkeeping, how much the
links change while the devices move, and the claims judged there, in one namespace.

The ablation's figure, table and verdict text live in :mod:`tinydtl.lab.lessons.l05_authors` (re-exported
here); the rules fixed before the run in :mod:`tinydtl.lab.lessons.l05_rules`. The notebook imports one
module: ``from tinydtl.lab.lessons import l12_bilayer_authors as lab``.
"""

from __future__ import annotations

import numpy as np

from tinydtl.lab.lessons.l05_authors import (
    ablation_curves,
    ablation_frame,
    authors_outcome,
    authors_text,
    culprit,
    plot_ablation,
    record_authors_claims,
)
from tinydtl.lab.lessons.l05_bilayer import lesson_parameters
from tinydtl.lab.lessons.l05_rules import PAPER, mean_se, rounds_list
from tinydtl.networks.mobility import random_direction
from tinydtl.networks.topology import geometric_adjacency, place_devices

__all__ = ["ablation_curves", "ablation_frame", "authors_outcome", "authors_text", "culprit", "lesson_parameters", "links_kept",
           "moving_summary", "plot_ablation", "record_authors_claims", "record_fast_moving_claim", "rounds_list"]


def links_kept(config, rounds: int, seed: int) -> tuple[float, float]:
    """``(kept, density)``: the share of the radio links of round 0 still present after ``rounds`` rounds of
    ``config``'s movement (the same trajectory rule and seed as
    :func:`tinydtl.papers.bilayer.experiment.network_kwargs`), and round 0's link density (links over device
    pairs): about what two unrelated layouts would share, the floor ``kept`` falls to once the devices have mixed."""
    pos = place_devices(config.n_devices, side=config.side, seed=seed)
    traj = random_direction(pos, rounds, speed=config.speed, side=config.side,
                            turn_probability=config.turn_probability, seed=np.random.default_rng([seed, 7]))
    first = geometric_adjacency(traj[0], config.radio_range)
    last = geometric_adjacency(traj[-1], config.radio_range)
    n = config.n_devices
    density = float(first.nnz / (n * (n - 1)))
    return (float(first.multiply(last).nnz / first.nnz) if first.nnz else 1.0), density


def moving_summary(static, moving_by_speed: dict, kept: dict):
    """One row per speed: mean final accuracy over seeds, the mean paired loss against standing still (points)
    with its standard error, the share of round-0 links kept at the end of the budget and the link density.

    ``static``: per-seed final accuracies standing still; ``moving_by_speed``: speed -> per-seed final accuracies;
    ``kept``: speed -> per-seed :func:`links_kept` pairs."""
    import pandas as pd

    density = float(np.mean([d for pairs in kept.values() for _, d in pairs]))
    rows = {0.0: {"final acc (mean)": float(np.mean(static)), "loss vs standing still (points)": 0.0, "SE": None,
                  "round-0 links kept at the end": 1.0, "link density": density}}
    for speed, finals in moving_by_speed.items():
        loss, se = mean_se(list(100 * (np.asarray(static) - np.asarray(finals))))
        rows[speed] = {"final acc (mean)": float(np.mean(finals)), "loss vs standing still (points)": loss, "SE": se,
                       "round-0 links kept at the end": float(np.mean([k for k, _ in kept[speed]])),
                       "link density": density}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "speed (units per round)"
    return out


def record_fast_moving_claim(claims, table, *, speed, bound, budget, seeds, differs, n_devices):
    """Moving ``speed`` units per round against the same swarm standing still: less than ``bound`` points of final
    accuracy lost. A sanity check, not a test of the paper's "robust to dynamic network conditions": at the
    authors' range each device hears a large share of the swarm (the link density), so a redrawn layout leaves
    every device averaging with most of the same models; the note gives the density and the neighbours it means."""
    row = table.loc[speed]
    se = row["SE"]
    density = float(row["link density"])
    claims.sanity(
        "fast_moving_accuracy_loss_vs_static_points", float(row["loss vs standing still (points)"]), op="<",
        target=bound, unit="points", noise=2 * se if se else 0.0,
        noise_reason="two standard errors of the per-seed paired difference", source=PAPER,
        where="abstract ('robust to dynamic network conditions'): not tested here, see the note",
        differs=f"the authors' configuration moving {speed:g} units per round (their simulator: 1) against the same "
                f"swarm standing still; {differs}",
        claim=f"moving {speed:g} units per round costs the authors' swarm less than {bound:g} point of final accuracy "
              f"after {budget} rounds (mean over {seeds} seeds)",
        note=f"near-vacuous: link density {density:.2f}, so each device hears about {density * (n_devices - 1):.0f} "
             f"of the other {n_devices - 1} devices and one-hop averaging is close to a global average whatever the "
             f"layout; share of round-0 links kept after {budget} rounds: {row['round-0 links kept at the end']:.2f}")
