"""Lesson 03 (federated MNIST): the bookkeeping the notebook runs but need not show.

The notebook keeps the idea, the from-scratch round, the figures and what to notice. Here live

* the four ways of spreading MNIST over clients (:data:`SPLITS`) and the validation hold-out (:func:`holdout`);
* the grid of setups — every split × every number of clients × seeds, each run scored on validation and
  test data (:func:`run_grid`);
* the server-side variants, each family tuned the same way on validation data (:data:`FAMILIES`,
  :func:`tune_families`), and the server step a momentum term really takes (:func:`momentum_step_multiple`);
* the survey's "around 85 %" as a two-sided band, and the claims that judge it (:func:`record_band_claims`,
  :func:`record_variant_claims`);
* the figures (:func:`plot_band_heatmap`, :func:`plot_grid_curves`, :func:`plot_tuning`) and the widget's
  split (:func:`widget_split`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tinydtl.algorithms.fedavg import run_fedavg
from tinydtl.core.aggregation import ServerOptimizer
from tinydtl.core.validation import check_int, check_number
from tinydtl.data.partition import dirichlet, iid, pathological
from tinydtl.learners.softmax import evaluate_softmax

__all__ = ["BAND_REASON", "FAMILIES", "SKEWED", "SPLITS", "SURVEY", "SURVEY_WHERE", "band_margins", "best_positions",
           "effective_step", "holdout", "in_band_from", "momentum_step_multiple", "plot_band_heatmap",
           "plot_grid_curves", "plot_tuning", "record_band_claims", "record_variant_claims", "run_grid", "run_setup",
           "setting_label", "tune_families", "widget_split"]

SURVEY = ('Rok Štular, "A Survey on Distributed Tiny ML", TU Delft (supervisor Mingkun Yang, responsible '
          'professor Qing Wang)')
SURVEY_WHERE = ("Sec. 6 Algorithm benchmark, second algorithm: a dense + softmax MNIST classifier in TensorFlow "
                "Federated, accuracy 'around 85% across all setups'")
#: what the survey does not say, and what this lesson uses instead
SURVEY_SILENT = ("the survey text we hold (its summary) states neither its setups, rounds, clients, local epochs, "
                 "batch size nor learning rates; here E = 1, B = 20, client rate 0.02 and server rate 1 (B, the rates: TensorFlow "
                 "Federated's image-classification tutorial)")

SPLITS = {
    "IID": lambda y, n, seed: iid(y, n, seed=seed),
    "Dirichlet α=1": lambda y, n, seed: dirichlet(y, n, 1.0, seed=seed),
    "Dirichlet α=0.1": lambda y, n, seed: dirichlet(y, n, 0.1, seed=seed),
    "2 classes per client": lambda y, n, seed: pathological(y, n, classes_per_client=2, seed=seed),
}
#: the strongly label-skewed splits (client drift: the known limit of plain FedAvg)
SKEWED = ("Dirichlet α=0.1", "2 classes per client")

BAND_REASON = ("'around 85 %' read as a number rounded to the nearest 5 points (82.5 % to 87.5 %) plus half a "
               "point for the test set's own sampling error (one binomial standard error of an accuracy near "
               "85 % on 10,000 test images is 0.36 points): 85 ± {band:g} points, fixed before the run; above "
               "the band misses the claim as much as below it")

#: the server-side variants: each family tunes ONE knob over six candidates on validation data, grids wide
#: enough that each family's best lies inside its grid. FedAvgM's server rates are chosen so that its
#: steady-state step η_s / (1 - β) equals FedAvg's η_s.
BETA = 0.9
FAMILIES = {
    "FedAvg": [{"server_lr": s} for s in (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)],
    "FedAvgM": [{"server_momentum": BETA, "server_lr": s} for s in (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)],
    "FedProx": [{"proximal_mu": m} for m in (0.001, 0.01, 0.1, 1.0, 3.0, 10.0)],
}


def effective_step(setting: dict) -> float:
    """The server's steady-state step under a constant update Δ: η_s / (1 - β) (η_s for plain FedAvg)."""
    return float(setting.get("server_lr", 1.0)) / (1.0 - float(setting.get("server_momentum", 0.0)))


def setting_label(setting: dict) -> str:
    """``η_s = 3``, ``β = 0.9, η_s = 0.3`` or ``μ = 0.1`` (plain FedAvg: ``η_s = 1``)."""
    if "proximal_mu" in setting:
        return f"μ = {setting['proximal_mu']:g}"
    beta = setting.get("server_momentum", 0.0)
    return (f"β = {beta:g}, " if beta else "") + f"η_s = {setting.get('server_lr', 1.0):g}"


def momentum_step_multiple(beta: float, rounds: int) -> np.ndarray:
    """How far the server moves in each of ``rounds`` rounds, in units of a constant update Δ, with momentum
    β and η_s = 1 (run through the package's own server optimizer): 1, 1 + β, ... → 1 / (1 - β)."""
    check_number("beta", beta, low=0, high=1, high_open=True)
    check_int("rounds", rounds, 1)
    server, w, steps = ServerOptimizer(1.0, beta), np.zeros(1, np.float32), []
    for _ in range(rounds):
        new = server.step(w, np.ones(1, np.float32))
        steps.append(float(new[0] - w[0]))
        w = new
    return np.asarray(steps)


def holdout(n: int, n_fit: int, n_validation: int, seed: int):
    """Index arrays ``(fit, validation)`` drawn without overlap from ``n`` training samples (seeded)."""
    check_int("n_fit", n_fit, 1)
    check_int("n_validation", n_validation, 1)
    if n_fit + n_validation > n:
        raise ValueError(f"n_fit + n_validation must be at most the {n:,} training images, got "
                         f"{n_fit:,} + {n_validation:,}")
    order = np.random.default_rng([seed, 303]).permutation(n)
    return order[n_validation:n_validation + n_fit], order[:n_validation]


def run_setup(data, parts, rounds: int, seed: int, setting: dict | None = None):
    """One FedAvg run on the lesson's data: ``(history, validation accuracy)``."""
    x_fit, y_fit, x_val, y_val, x_test, y_test = data
    h = run_fedavg(x_fit, y_fit, parts, x_test=x_test, y_test=y_test, rounds=rounds, seed=seed, **(setting or {}))
    return h, evaluate_softmax(*h.weights, x_val, y_val)[1]


def run_grid(data, *, splits: dict, client_counts, seeds, rounds: int, done: dict | None = None):
    """Plain FedAvg on every split × number of clients × seed.

    ``data`` = ``(x_fit, y_fit, x_val, y_val, x_test, y_test)`` (``x_val`` flattened and scaled to
    [0, 1]); ``done`` maps ``(split, clients, seed)`` to runs already made (reused, not rerun).
    Returns ``(runs, grid, histories)``: one row per run (``test``, ``validation`` accuracy after the last
    round), one row per setup (``test`` mean over seeds, ``test_sd``, ``worst_seed``, ``validation``
    mean), and ``{(split, clients, seed): (History, validation accuracy)}``."""
    done = dict(done or {})
    rows = []
    for s in seeds:
        for name, split in splits.items():
            for n in client_counts:
                key = (name, int(n), s)
                if key not in done:
                    done[key] = run_setup(data, split(data[1], int(n), s), rounds, s)
                h, val = done[key]
                rows.append({"distribution": name, "clients": int(n), "seed": s,
                             "test": h.column("accuracy")[-1], "validation": val})
    runs = pd.DataFrame(rows)
    grid = runs.groupby(["distribution", "clients"], sort=False).agg(
        test=("test", "mean"), test_sd=("test", "std"), worst_seed=("test", "min"),
        validation=("validation", "mean")).reset_index()
    return runs, grid, done


def tune_families(data, parts_by_seed: dict, *, families: dict, rounds: int, tune_seed: int, seeds,
                  done: dict | None = None):
    """Tune each family's knob on validation data (seed ``tune_seed``), then run each family's choice on
    every seed.

    ``parts_by_seed`` maps a seed to the worst setup's split; ``done`` maps ``(family, label, seed)`` to runs
    already made (plain FedAvg from the grid). Returns ``(candidates, chosen, runs)``: one row per
    candidate (validation and test accuracy on ``tune_seed``, effective server step), one row per family
    × seed for the chosen settings, and every run ``{(family, label, seed): (History, validation)}``."""
    runs = dict(done or {})

    def run(family, setting, s):
        key = (family, setting_label(setting), s)
        if key not in runs:
            runs[key] = run_setup(data, parts_by_seed[s], rounds, s, setting)
        return runs[key]

    rows = []
    for family, settings in families.items():
        for setting in settings:
            h, val = run(family, setting, tune_seed)
            rows.append({"family": family, "setting": setting_label(setting), "effective step": effective_step(setting),
                         "validation": val, "test": h.column("accuracy")[-1], "_setting": setting})
    candidates = pd.DataFrame(rows)
    best = candidates.loc[candidates.groupby("family", sort=False)["validation"].idxmax()]
    chosen_rows = [{"family": "FedAvg, η_s = 1 (plain)", "setting": "η_s = 1", "seed": s,
                    "validation": run("FedAvg", {"server_lr": 1.0}, s)[1],
                    "test": run("FedAvg", {"server_lr": 1.0}, s)[0].column("accuracy")[-1]} for s in seeds]
    for _, row in best.iterrows():
        for s in seeds:
            h, val = run(row["family"], row["_setting"], s)
            chosen_rows.append({"family": f"{row['family']}, tuned", "setting": row["setting"], "seed": s,
                                "validation": val, "test": h.column("accuracy")[-1]})
    return candidates.drop(columns="_setting"), pd.DataFrame(chosen_rows), runs


def best_positions(candidates: pd.DataFrame) -> dict:
    """Per family: ``(best setting on validation, inside its grid?)`` — a best at either end of the grid (in the
    candidates' order) means the grid may be too short."""
    out = {}
    for family, rows in candidates.groupby("family", sort=False):
        pos = int(np.argmax(rows["validation"].to_numpy()))
        out[family] = (rows["setting"].iloc[pos], 0 < pos < len(rows) - 1)
    return out


def paired_gain(chosen: pd.DataFrame, better: str, than: str):
    """Per-seed test-accuracy difference ``better - than`` (points): ``(mean, noise, n)``, noise = 2 standard
    errors of the per-seed differences (0 with one seed)."""
    table = chosen.pivot(index="seed", columns="family", values="test")
    diff = 100 * (table[better] - table[than]).to_numpy()
    noise = 2 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    return float(diff.mean()), float(noise), len(diff)


def in_band_from(curve, band: float):
    """The first round (1-based) from which ``curve`` (accuracy per round) stays inside 0.85 ± band to its end;
    ``None`` when its last round is outside."""
    inside = np.abs(np.asarray(curve, dtype=float) - 0.85) <= band
    if not inside.size or not inside[-1]:
        return None
    r = len(inside)
    while r > 1 and inside[r - 2]:
        r -= 1
    return r


def band_margins(accuracy: float, band: float):
    """``(above the lower edge, below the upper edge)`` in points: both positive inside the band."""
    return 100 * (accuracy - (0.85 - band)), 100 * ((0.85 + band) - accuracy)


def _outside(grid: pd.DataFrame, band: float, fewest: int):
    """Setups outside 0.85 ± band, each with the mechanism that explains it (or None: unexplained)."""
    out = []
    for _, r in grid.iterrows():
        if abs(r["test"] - 0.85) <= band:
            continue
        if r["test"] > 0.85:
            why = "above: the learner goes on past 85 % with more rounds (the centralised model is the ceiling)"
        elif r["distribution"] in SKEWED:
            why = "below: strong label skew (client drift)"
        elif r["clients"] > fewest:
            why = "below: more clients share the images, so each takes fewer local steps per round"
        else:
            why = None
        out.append((r["distribution"], int(r["clients"]), float(r["test"]), why))
    return out


def record_band_claims(claims, grid: pd.DataFrame, *, band: float, rounds: int, judged: bool, scale: str,
                       curve=None, tff_rounds: int | None = None):
    """The survey's "around 85 %" for the 10-IID-client setup and across every setup of the grid, both
    two-sided (85 ± ``band``). Fixed before the run: a setup outside the band is an honest negative when a
    known mechanism explains it (above the band; below with strong skew or more clients than the fewest);
    the 10-or-fewest-client IID or α = 1 setup below the band fails the run. ``judged=False`` (student
    scale) records the numbers as *not comparable*. ``curve`` (the headline setup's test accuracy per round, mean
    over seeds) puts the round from which it stays in the band into the claim; ``tff_rounds`` the rounds over
    which the full run compares the numpy engine with TensorFlow Federated."""
    fewest = int(grid["clients"].min())
    kw = dict(source=SURVEY, where=SURVEY_WHERE, target=0.85, op="==", tolerance=band,
              tolerance_reason=BAND_REASON.format(band=100 * band), comparable=judged)
    engine = (f"numpy engine (compared with TFF's FedAvg over the first {tff_rounds} round(s): engine_parity_pp)"
              if tff_rounds else "numpy engine (the full run compares it with TFF's FedAvg over its first rounds)")
    differs = (f"{SURVEY_SILENT}; {engine}; {scale}; "
               f"judged after {rounds} rounds" + ("" if judged else "; student scale: not judged here, the full "
                                                                   "run judges it"))
    iid_row = grid[(grid["distribution"] == "IID") & (grid["clients"] == fewest)].iloc[0]
    head_out = _outside(iid_row.to_frame().T, band, fewest)
    first = None if curve is None else in_band_from(curve, band)
    entered = "" if curve is None else (f"; in band from round {first}" if first else f"; outside the band at round {rounds}")
    low, high = band_margins(float(iid_row["test"]), band)
    headline = claims.reproduction(
        "headline_accuracy", float(iid_row["test"]), differs=differs,
        note=f"margins: {low:+.2f} points above the lower edge, {high:+.2f} points below the upper edge",
        claim=f"{fewest} IID clients: test accuracy around 85 % (85 ± {100 * band:g} points), judged at round "
              f"{rounds}{entered}",
        honest_negative=(f"{head_out[0][2]:.2%}: {head_out[0][3]}" if judged and head_out and head_out[0][3] else ""),
        **kw)
    far = grid.loc[(grid["test"] - 0.85).abs().idxmax()]
    outside = _outside(grid, band, fewest)
    explained = bool(outside) and all(why for *_, why in outside)
    listing = "; ".join(f"{d}, {n} clients {acc:.2%} ({why or 'unexplained'})" for d, n, acc, why in outside)
    spread = claims.reproduction(
        "all_setups_within_band", float(far["test"]), differs=differs + f"; grid: {', '.join(grid['distribution'].unique())} "
        f"× {sorted(grid['clients'].unique().tolist())} clients, all clients every round",
        claim=f"around 85 % (85 ± {100 * band:g} points) in every setup after {rounds} rounds: the setup farthest "
              "from 85 % (mean over seeds) is within the band",
        note=f"farthest: {far['distribution']}, {int(far['clients'])} clients; outside the band: {listing or 'none'}",
        honest_negative=(f"{len(outside)} of {len(grid)} setups outside the band, each explained: {listing}"
                         if judged and explained else ""), **kw)
    return headline, spread, outside


def record_variant_claims(claims, chosen: pd.DataFrame, *, setup: str, rounds: int, min_seeds: int = 3,
                          families: dict | None = None):
    """Findings on the worst setup, judged with at least ``min_seeds`` seeds (noise: 2 standard errors of
    the per-seed differences); with fewer, nothing is recorded and ``None`` is returned for each.

    When validation picks FedProx's smallest μ, FedProx is plain FedAvg up to a tiny term and "changes the
    accuracy by less than 1 point" is close to true by construction: it is then recorded as a sanity check."""
    gains = {"momentum": paired_gain(chosen, "FedAvgM, tuned", "FedAvg, tuned"),
             "prox": paired_gain(chosen, "FedProx, tuned", "FedAvg, η_s = 1 (plain)")}
    if gains["momentum"][2] < min_seeds:
        return gains, None, None
    noise_reason = f"2 standard errors of the per-seed test-accuracy differences over {gains['momentum'][2]} seeds"
    note = f"worst setup chosen on validation data: {setup}; {rounds} rounds; every knob tuned on validation data"
    momentum = claims.finding(
        "momentum_beyond_tuned_step_pp", gains["momentum"][0], op=">", target=0.0, unit="pp", note=note,
        noise=gains["momentum"][1], noise_reason=noise_reason,
        claim="server momentum (β = 0.9, η_s tuned) beats FedAvg whose server step is tuned the same way "
              "(test accuracy gain > 0 points, mean over seeds): momentum does more than lengthen the step")
    mus = [s["proximal_mu"] for s in (families or FAMILIES)["FedProx"]]
    picked = chosen.loc[chosen["family"] == "FedProx, tuned", "setting"]
    try:
        mu = float(str(picked.iloc[0]).split("= ")[1])
    except (IndexError, ValueError):
        mu = float("nan")
    text = ("with E = 1 FedProx (μ tuned) changes the worst setup's test accuracy by less than 1 point against "
            "FedAvg with the same server step (η_s = 1)")
    if mu == min(mus):
        prox = claims.sanity(
            "fedprox_change_pp", abs(gains["prox"][0]), op="<", target=1.0, unit="pp", note=note,
            noise=gains["prox"][1], noise_reason=noise_reason, source=f"definition: μ = {mu:g} is the smallest candidate",
            claim=text + f" — validation chose the smallest μ = {mu:g}, which adds only μ(w − w_t) to the gradient: "
                         "close to plain FedAvg by construction, so a check of the code, not a finding")
    else:
        prox = claims.finding("fedprox_change_pp", abs(gains["prox"][0]), op="<", target=1.0, unit="pp", note=note,
                              noise=gains["prox"][1], noise_reason=noise_reason, claim=text + f" (validation chose μ = {mu:g})")
    return gains, momentum, prox


# ----------------------------------------------------------------------------- figures
def plot_band_heatmap(grid: pd.DataFrame, band: float, ax, *, title: str):
    """Test accuracy per setup on a colour scale centred on 85 %; setups outside 85 ± band are marked ✗."""
    table = grid.pivot(index="distribution", columns="clients", values="test").loc[list(dict.fromkeys(grid["distribution"]))]
    span = max(0.1, float(np.abs(table.to_numpy() - 0.85).max()) + 0.01)
    im = ax.imshow(table.to_numpy(), cmap="RdBu", vmin=0.85 - span, vmax=0.85 + span, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), list(table.index))
    ax.set_xlabel("clients")
    for (r, c), v in np.ndenumerate(table.to_numpy()):
        mark = "" if abs(v - 0.85) <= band else " ✗"
        ax.text(c, r, f"{v:.3f}{mark}", ha="center", va="center", fontsize=9,
                color="white" if abs(v - 0.85) > 0.6 * span else "black")
    ax.figure.colorbar(im, ax=ax, label="test accuracy (mean over seeds)")
    ax.set_title(title, fontsize=10)
    return ax


def plot_grid_curves(histories: dict, splits, client_counts, seed: int, axes, *, band: float, central=None):
    """One panel per split: test accuracy per round for each number of clients, the band shaded."""
    for ax, name in zip(axes, splits):
        for n in client_counts:
            acc = histories[(name, int(n), seed)][0].column("accuracy", initial=False)
            ax.plot(np.arange(1, len(acc) + 1), acc, label=f"{n} clients")
        if central is not None:
            ax.plot(np.arange(1, len(central) + 1), central, "k--", linewidth=1.2, label="centralised (per epoch)")
        ax.axhspan(0.85 - band, 0.85 + band, color="grey", alpha=0.2, label=f"85 ± {100 * band:g} points")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0.0, 1.0)
        ax.legend(fontsize=7, loc="lower right")
    return axes


def plot_tuning(candidates: pd.DataFrame, axes):
    """Left: validation accuracy against the effective server step (FedAvg and FedAvgM); right: against
    FedProx's μ, with plain FedAvg's level."""
    left, right = axes
    for family, marker in (("FedAvg", "o"), ("FedAvgM", "s")):
        rows = candidates[candidates["family"] == family]
        left.plot(rows["effective step"], rows["validation"], marker=marker,
                  label=family + (" (β = 0.9)" if family == "FedAvgM" else ""))
    left.set_xscale("log")
    left.set_xticks(sorted(candidates["effective step"].unique()),
                    [f"{v:g}" for v in sorted(candidates["effective step"].unique())])
    left.set_xlabel("effective server step η_s / (1 - β)")
    left.set_ylabel("validation accuracy")
    left.legend(fontsize=8, loc="lower right")
    prox = candidates[candidates["family"] == "FedProx"]
    mus = [float(s.split("= ")[1]) for s in prox["setting"]]
    right.plot(mus, prox["validation"], marker="^", color="C2", label="FedProx (η_s = 1)")
    plain = candidates[(candidates["family"] == "FedAvg") & (candidates["effective step"] == 1.0)]["validation"]
    right.axhline(float(plain.iloc[0]), color="C0", linestyle="--", label="FedAvg, η_s = 1")
    right.set_xscale("log")
    right.set_xlabel("proximal strength μ")
    right.legend(fontsize=8, loc="lower left")
    lo = float(candidates["validation"].min())
    for ax in axes:
        ax.set_ylim(max(0.0, lo - 0.05), 1.0)
    return axes


def widget_split(y, clients: int, alpha: float, seed: int):
    """Dirichlet split of ``y`` over ``clients``; if α leaves a client empty in every draw, the most clients
    α can feed and a note saying so."""
    try:
        return dirichlet(y, clients, alpha, seed=seed), ""
    except ValueError:  # some client gets no image in every draw: find the most clients that all get data
        lo, hi = 1, clients
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                dirichlet(y, mid, alpha, seed=seed, max_tries=20)
                lo = mid
            except ValueError:
                hi = mid
        return dirichlet(y, lo, alpha, seed=seed), (f"α = {alpha:.3g} leaves clients without images: only {lo} of "
                                                     f"{clients} clients get data, and those {lo} train")
