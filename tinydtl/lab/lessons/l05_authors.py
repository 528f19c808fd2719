"""Lesson 12 (the bilayer paper under its authors' configuration): the ablation's figure, the rule that names the
setting producing the extra rounds, and the two reproductions judged there.

:func:`culprit` names the step whose switch adds the most extra rounds; the rules the claims follow are in
:mod:`tinydtl.lab.lessons.l05_rules`.
"""

from __future__ import annotations

import numpy as np

from tinydtl.lab.lessons.l05_rules import (
    EXTRA_BAND_REASON,
    PAPER,
    PAPER_EXTRA_ROUNDS,
    mean_se,
    rounds_list,
    why_not_paper,
)

__all__ = ["ablation_curves", "ablation_frame", "authors_outcome", "authors_text", "culprit", "plot_ablation",
           "record_authors_claims"]


def culprit(summary):
    """The ablation step whose switch adds the most extra rounds (a step that is never reached counts as
    infinitely many): ``(label, increment)``; ``(None, 0.0)`` when no step adds any."""
    best, best_inc = None, 0.0
    previous = 0.0
    for row in summary:
        mean = row["extra rounds (mean)"]
        value = np.inf if mean is None else mean
        inc = value - previous
        if inc > best_inc:
            best, best_inc = row["setting"], inc
        previous = value
    return best, best_inc


def plot_ablation(summary, curves, *, budget, target):
    """Left: mean extra rounds over CFL per ablation step (dot ± one standard error; a triangle = never reached
    in the budget, drawn at the fewest extra rounds that allows). Right: mean accuracy per round of the curves in ``curves`` (label -> list of
    per-seed accuracy arrays)."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [1.2, 1]})
    y = np.arange(len(summary))[::-1]
    ax.axvspan(PAPER_EXTRA_ROUNDS - 1, PAPER_EXTRA_ROUNDS + 1, color="C2", alpha=0.15, label="paper's ~1.8 (± 1)")
    ax.axvline(0, color="grey", linewidth=0.8)
    for yi, r in zip(y, summary):
        m, se = r["extra rounds (mean)"], r["SE"]
        if m is None:  # never reached: at least the rounds left after CFL's slowest seed
            cfl = [c for c in r.get("CFL rounds per seed", []) if c is not None]
            bound = budget + 1 - max(cfl) if cfl else budget
            ax.plot([bound], [yi], marker=">", color="C3", markersize=9)
            ax.text(bound, yi + 0.25, f"never reached in {budget} rounds: at least {bound}", fontsize=8, color="C3",
                    ha="center")
        else:
            ax.errorbar([m], [yi], xerr=[se] if se else None, fmt="o", color="C0", capsize=3)
    ax.set_yticks(y, [r["setting"] for r in summary], fontsize=8)
    low = min([r["extra rounds (mean)"] for r in summary if r["extra rounds (mean)"] is not None], default=0.0)
    ax.set_xlim(min(-1.0, low) - 0.6, budget + 0.5)  # no marker on the frame
    ax.set_xlabel(f"extra rounds over CFL to reach {target:.0%} (mean over seeds, ± 1 SE)")
    ax.legend(loc="upper right", fontsize=8)
    for name, runs in curves.items():
        n = min(len(r) for r in runs)
        ax2.plot(range(n), np.mean([r[:n] for r in runs], axis=0), marker=".", label=name)
    ax2.axhline(target, color="grey", linestyle=":", label=f"target {target:.0%}")
    ax2.set_xlabel("round")
    ax2.set_ylabel("mean test accuracy of the devices' models")
    ax2.set_ylim(0, 1)
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def authors_outcome(summary, undo, rows, *, budget, last):
    """The numbers lesson 12's claims and sentences rest on: the authors' configuration's mean extra rounds, a
    lower bound when it never reaches the target, the same with the culprit switched back, and the final
    accuracy of the last two steps (standing still, moving) with their per-seed paired loss in points."""
    cfl_rounds = [r["CFL rounds"] for r in rows if r["step"] == last[1]]
    static = np.array([r["swarm final"] for r in rows if r["step"] == last[0]])
    moving = np.array([r["swarm final"] for r in rows if r["step"] == last[1]])
    loss, loss_se = mean_se(list(100 * (static - moving)))
    return {"extra": summary[-1]["extra rounds (mean)"], "per seed": summary[-1]["extra rounds per seed"],
            "at least": None if None in cfl_rounds else budget + 1 - max(cfl_rounds),
            "undo": undo["extra rounds (mean)"], "static": float(static.mean()), "moving": float(moving.mean()),
            "loss": loss, "loss se": loss_se}


def record_authors_claims(claims, outcome, *, setting, not_reproduced, target, band, bound, budget, seeds):
    """The reproduction under the authors' configuration (~1.8 extra rounds), and the check that moving at the
    authors' own speed changes little (a sanity check: the links barely change; lesson 12 tests robustness at a
    speed where they do)."""
    differs_text = "; ".join(f"{what}: {ours}" for what, _, ours in not_reproduced)
    never = outcome["extra"] is None and outcome["at least"] is not None
    claims.reproduction(
        "authors_config_extra_rounds_vs_cfl", outcome["extra"], op="==", target=PAPER_EXTRA_ROUNDS, tolerance=band,
        tolerance_reason=EXTRA_BAND_REASON, unit="rounds", source=PAPER,
        where="abstract; configuration from the authors' simulator (GitHub LanceBao0313/MSc-Project, simulation/)",
        honest_negative=why_not_paper(outcome["extra"], band, without=outcome["undo"], setting=setting),
        differs=differs_text,
        claim=f"under the authors' configuration the swarm needs ~1.8 extra rounds over CFL to reach {target:.0%} "
              f"(mean over {seeds} seeds)",
        note=f"per seed {rounds_list(outcome['per seed'])}"
             + (f" (never reached in {budget} rounds: at least {outcome['at least']} extra rounds)" if never else "")
             + f"; with '{setting}' switched back: {outcome['undo']}")
    claims.sanity(
        "moving_at_authors_speed_loss_points", abs(outcome["loss"]), op="<", target=bound, unit="points",
        claim=f"moving 1 unit per round (the authors' speed) changes the swarm's final accuracy by less than {bound:g} "
              f"point after {budget} rounds (mean over {seeds} seeds): in a field 100 units wide with range 60 the "
              "links barely change, so this checks the moving simulator, not the paper's robustness")


def authors_text(outcome, *, setting, judged, min_seeds):
    """Lesson 12's printed verdict: extra rounds (or their lower bound), the setting that produces them, what
    switching it back leaves, and the moving swarm against the static one."""
    extra_text = (f"{outcome['extra']:.2f} extra rounds" if outcome["extra"] is not None else
                  f"more rounds than its budget (never reached: at least {outcome['at least']} extra)")
    se = f" ± {outcome['loss se']:.3f} (SE)" if outcome["loss se"] else ""
    undo = "never reached" if outcome["undo"] is None else f"{outcome['undo']:.2f}"
    return ((f"judged ({min_seeds}+ seeds)" if judged else f"not judged at this scale (fewer than {min_seeds} seeds)")
            + f": the authors' configuration needs {extra_text}; the setting that produces them: '{setting}'; "
            f"switched back: {undo} extra rounds\nmoving vs standing still: final accuracy {outcome['moving']:.4f} vs "
            f"{outcome['static']:.4f}, loss {outcome['loss']:+.3f} points{se}")


def ablation_curves(runs, seeds, last, cfl_key):
    """Per-seed accuracy curves of CFL and of the last two ablation steps (standing still, moving)."""
    return {"CFL": [runs["cfl"][(cfl_key, s)].column("device_accuracy") for s in seeds],
            "authors' swarm, standing still": [runs["swarm"][(last[0], s)].column("device_accuracy") for s in seeds],
            "authors' swarm, moving": [runs["swarm"][(last[1], s)].column("device_accuracy") for s in seeds]}


def ablation_frame(summary, budget):
    """The ablation as a table to read: extra rounds as "mean ± SE" (or "never reached: at least k"), the
    per-seed counts, and the accuracy both the swarm and CFL reach after round 1."""
    import pandas as pd

    rows = []
    for r in summary:
        cfl = [c for c in r.get("CFL rounds per seed", []) if c is not None]
        m, se = r["extra rounds (mean)"], r["SE"]
        text = (f"never reached: at least {budget + 1 - max(cfl) if cfl else '?'}" if m is None
                else f"{m:.2f}" + (f" ± {se:.2f}" if se is not None else ""))
        rows.append({"step": r["step"], "setting": r["setting"], "extra rounds (mean ± SE)": text,
                     "extra rounds per seed": rounds_list(r["extra rounds per seed"]),
                     "CFL rounds per seed": rounds_list(r.get("CFL rounds per seed", [])),
                     "swarm round 1": round(r["swarm round 1"], 3), "CFL round 1": round(r["CFL round 1"], 3)})
    return pd.DataFrame(rows).set_index(["step", "setting"])
