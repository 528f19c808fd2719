"""Lesson 02 (ILVQ on the unit sphere): the headline's bookkeeping, the distributed runs, their claims and figures.

The notebook ``notebooks/02_ilvq_sphere.ipynb`` teaches ILVQ (Xu, Shen & Zhao, "An incremental learning vector
quantization algorithm for pattern classification", Neural Computing and Applications 2012), the first benchmark
of Rok Štular's "A Survey on Distributed Tiny ML" (TU Delft). What it would otherwise carry in long cells lives here:

* :func:`headline` and :func:`record_headline` — one pass over the stream per seed (the survey's ≥ 85 % tested on
  the worst seed), the two-pass variant, and their claims;
* :func:`sweep_reading` — what the ``max_age`` × ``lambda_`` sweep shows, as numbers;
* :func:`distributed` and :func:`record_distributed` — ten devices learning apart, then a central merge (union or
  condensed) or ring gossip, with the bytes each moves; :func:`plot_distributed` — accuracy against bytes;
* :func:`order_check` — ``fit`` is one pass over a shuffled stream, ``partial_fit`` one pass in the given order;
* :func:`reservoir_1nn` — the same-memory baseline: 1-NN on as many reservoir-sampled stream points as ILVQ keeps.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from tinydtl.algorithms.ilvq_exchange import merge_central, prototype_bytes, run_ilvq_exchange, train_devices
from tinydtl.data.datasets import make_sphere
from tinydtl.data.partition import iid
from tinydtl.learners.ilvq import ILVQ

__all__ = ["SURVEY", "SURVEY_WHERE", "distributed", "headline", "order_check", "plot_distributed", "record_distributed",
           "record_headline", "reservoir_1nn", "sweep_reading"]

SURVEY = "Rok Štular, 'A Survey on Distributed Tiny ML' (TU Delft), ILVQ benchmark (Xu, Shen & Zhao 2012)"
SURVEY_WHERE = "section 6, Algorithm benchmark: 'at least 85% accuracy' on points inside vs outside the unit sphere"


def headline(X_train, y_train, X_test, y_test, seeds, *, seed):
    """ILVQ fed each seed's stream once (the headline) and twice (a variant that keeps the data).

    Seed ``s`` draws its stream with ``make_sphere(len(X_train), seed=2s)`` (seed ``seed`` uses ``X_train``).
    Returns ``(table, models)``: one row per seed and number of passes (inputs seen, prototypes, test accuracy),
    and the fitted models by ``(seed, passes)``.
    """
    import pandas as pd

    models, rows = {}, []
    for s in seeds:
        Xs, ys = (X_train, y_train) if s == seed else make_sphere(len(X_train), seed=2 * s)
        for passes in (1, 2):
            m = ILVQ(n_epochs=passes, random_state=s).fit(Xs, ys)
            models[(s, passes)] = m
            rows.append({"seed": s, "passes": passes, "inputs seen": m.n_samples_seen_, "prototypes": m.n_prototypes_,
                         "test accuracy": m.score(X_test, y_test)})
    return pd.DataFrame(rows), models


def record_headline(claims, table, *, n_train, n_test, order_spread, judged) -> dict:
    """The survey's claim on the worst one-pass seed and the two-pass variant; returns the numbers.

    ``order_spread`` is ``(min, max)`` one-pass accuracy over other shuffles of the same points: half its width is
    the claims' noise band (how far the stream's order alone moves accuracy). ``judged`` (three seeds or more):
    otherwise the survey's claim is shown as *not comparable* and the two-pass variant is not recorded."""
    one, two = table[table.passes == 1], table[table.passes == 2]
    n = len(one)
    worst, largest = float(one["test accuracy"].min()), int(one["prototypes"].max())
    noise = (order_spread[1] - order_spread[0]) / 2
    reason = "half the spread of one-pass accuracy over other shuffles of the same points (the order effect)"
    claims.reproduction(
        "ilvq_accuracy", worst, source=SURVEY, where=SURVEY_WHERE, target=0.85, comparable=judged,
        noise=noise, noise_reason=reason,
        differs=(f"ILVQ written here from Xu, Shen & Zhao 2012's rules; our data generator (uniform cube, balanced "
                 f"classes), {n_train:,} training points seen once, {n_test:,} test points; the survey states neither "
                 "its sizes and sampling, nor how many passes, nor whether its ILVQ learned on one device or "
                 "distributed" + ("" if judged else f"; student scale: {n} seed(s), shown, not judged")),
        claim=f"ILVQ classifies 3-D points inside vs outside the unit sphere with >= 85 % accuracy (one pass over "
              f"the stream; worst of {n} seed(s))")
    if judged:
        claims.finding("ilvq_two_pass_accuracy_2000", float(two["test accuracy"].min()), target=0.90, noise=noise,
                       noise_reason=reason,
                       claim=f"variant, two passes over a stored copy of the {n_train:,} points: >= 90 % test accuracy "
                             f"(worst of {n} seeds; this suite's target, not the survey's setting)")
    claims.metric("ilvq_prototypes_largest", largest)
    claims.metric("one_pass_accuracy_worst_seed", worst)
    claims.metric("one_pass_accuracy_mean", float(one["test accuracy"].mean()))
    claims.metric("one_pass_accuracy_sd", float(one["test accuracy"].std(ddof=1)) if n > 1 else 0.0)
    gain = two["test accuracy"].to_numpy() - one["test accuracy"].to_numpy()  # per seed, same order
    return {"worst": worst, "mean": float(one["test accuracy"].mean()), "largest": largest,
            "two_worst": float(two["test accuracy"].min()), "gain": gain, "noise": noise}


def reservoir_1nn(X_train, y_train, X_test, y_test, *, keep, seed, draws=5):
    """1-NN on ``keep`` points kept from one pass over the stream by reservoir sampling (Vitter's Algorithm R: the
    memory ILVQ uses, but no learning rule); the test accuracy of ``draws`` reservoirs (seeds ``seed, seed + 1, …``)."""
    from sklearn.neighbors import KNeighborsClassifier

    out = []
    for k in range(draws):
        rng = np.random.default_rng([seed, k, 7])
        kept = list(range(keep))
        for t in range(keep, len(X_train)):  # the t-th point replaces a kept one with probability keep / (t + 1)
            j = int(rng.integers(0, t + 1))
            if j < keep:
                kept[j] = t
        knn = KNeighborsClassifier(1).fit(X_train[kept], y_train[kept])
        out.append(knn.score(X_test, y_test))
    return np.array(out)


def sweep_reading(sweep, ages, lambdas) -> dict:
    """Mean accuracy and prototypes at the smallest and largest ``lambda_`` (over ``max_age``) and ``max_age`` (over
    ``lambda_``), and the accuracy the smallest ``max_age`` loses against the largest at each ``lambda_``."""
    by_lambda = sweep.groupby("lambda_")[["accuracy", "n_prototypes"]].mean()
    by_age = sweep.groupby("max_age")[["accuracy", "n_prototypes"]].mean()
    acc = sweep.set_index(["max_age", "lambda_"])["accuracy"]
    lo, hi = min(ages), max(ages)
    return {"lambda_prototypes": (float(by_lambda.n_prototypes.iloc[0]), float(by_lambda.n_prototypes.iloc[-1])),
            "lambda_accuracy": (float(by_lambda.accuracy.iloc[0]), float(by_lambda.accuracy.iloc[-1])),
            "age_prototypes": (float(by_age.n_prototypes.iloc[0]), float(by_age.n_prototypes.iloc[-1])),
            "age_accuracy": (float(by_age.accuracy.iloc[0]), float(by_age.accuracy.iloc[-1])),
            "age_gap_points": {lam: 100 * float(acc[hi, lam] - acc[lo, lam]) for lam in lambdas}}


def distributed(X_train, y_train, X_test, y_test, *, n_devices, rounds, seed) -> dict:
    """``n_devices`` learn apart (an IID split, one pass each), then merge centrally (union and condensed) or gossip
    on a ring for ``rounds`` rounds (the caller's device models are not changed)."""
    parts = iid(y_train, n_devices, seed=seed)
    devices = train_devices(X_train, y_train, parts, n_epochs=1, seed=seed)
    return {"devices": devices, "local": np.array([m.score(X_test, y_test) for m in devices]),
            "union": merge_central(devices, condense=False),
            "condensed": merge_central(devices, condense=True, seed=seed),
            "gossip": run_ilvq_exchange(devices, nx.cycle_graph(n_devices), rounds=rounds, x_test=X_test,
                                        y_test=y_test, seed=seed)}


def distributed_table(d, *, single, single_accuracy, X_test, y_test):
    """One row per scheme: test accuracy, prototypes (per device) and bytes exchanged."""
    import pandas as pd

    g, union, condensed = d["gossip"], d["union"], d["condensed"]
    return pd.DataFrame({
        "test accuracy": [single_accuracy, d["local"].mean(), union.model.score(X_test, y_test),
                          condensed.model.score(X_test, y_test), g.column("accuracy")[-1]],
        "prototypes (per device)": [single.n_prototypes_, np.mean([m.n_prototypes_ for m in d["devices"]]),
                                    union.model.n_prototypes_, condensed.model.n_prototypes_, g.column("prototypes")[-1]],
        "bytes exchanged": [0, 0, union.bytes_total, condensed.bytes_total, g.cumulative("bytes_up")[-1]],
    }, index=["single learner (all data, one pass)", "one device alone (mean)", "central merge: union",
              "central merge: condensed", f"ring gossip, {g.rounds} rounds (mean device)"])


def record_distributed(claims, table, *, n_devices, n_train, rounds, seed) -> None:
    """The survey's 85 % bar applied to the distributed set-ups: findings of this suite (the survey does not say
    whether its ILVQ learned on one device or distributed), plus the metrics the tests read."""
    note = (f"the merge protocols (condensing the union by a second ILVQ; ring exchange for {rounds} rounds) are this "
            f"suite's; each device sees its {n_train // n_devices} points once; seed {seed} only")
    acc = table["test accuracy"]
    claims.finding("distributed_merge_accuracy", float(acc.iloc[3]), target=0.85, note=note,
                   claim=f"the survey's 85 % bar, applied to {n_devices} devices that learn apart and merge their "
                         "prototype sets at a server (condensed)")
    claims.finding("gossip_accuracy", float(acc.iloc[4]), target=0.85, note=note,
                   claim=f"...and to {n_devices} devices on a ring that only exchange prototypes with their neighbours "
                         "(mean device)")
    claims.metric("local_device_accuracy", float(acc.iloc[1]))
    claims.metric("condensed_merge_bytes", float(table["bytes exchanged"].iloc[3]))


def plot_distributed(d, table, n_devices):
    """Accuracy against kilobytes exchanged: ring gossip round by round, the two central merges, the single learner."""
    import matplotlib.pyplot as plt

    g = d["gossip"]
    kb = g.cumulative("bytes_up") / 1e3
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(kb, g.column("accuracy"), marker="o", label="ring gossip (mean device)")
    ax.plot(kb, g.column("min_accuracy"), marker=".", linestyle=":", label="ring gossip (worst device)")
    for row, marker, colour in (("central merge: union", "s", "C2"), ("central merge: condensed", "D", "C3")):
        ax.scatter([table.loc[row, "bytes exchanged"] / 1e3], [table.loc[row, "test accuracy"]], marker=marker,
                   color=colour, label=row, zorder=3)
    ax.axhline(table["test accuracy"].iloc[0], color="black", linewidth=1, label="single learner (one pass)")
    ax.axhline(0.85, color="grey", linestyle="--", linewidth=1, label="survey's 85 %")
    ax.set(xlabel="kilobytes exchanged (all devices; decimal kB)", ylabel="test accuracy", ylim=(0.5, 1),
           title=f"{n_devices} devices: accuracy against communication")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def order_check(X_train, y_train, X_test, y_test, clf, *, seed, orders) -> dict:
    """``fit(n_epochs=1)`` is one pass over a permutation drawn from ``random_state``; ``partial_fit`` one pass in the
    given order (both asserted); and the accuracy of ``orders`` other shuffles of the same points."""
    order = np.random.RandomState(seed).permutation(len(X_train))  # what fit's check_random_state(seed) draws first
    permuted = ILVQ().partial_fit(X_train[order], y_train[order], classes=[0, 1])
    np.testing.assert_array_equal(permuted.prototypes_, clf.prototypes_)
    as_drawn = ILVQ().partial_fit(X_train, y_train, classes=[0, 1])
    np.testing.assert_array_equal(ILVQ(n_epochs=1, shuffle=False).fit(X_train, y_train).prototypes_, as_drawn.prototypes_)
    others = [ILVQ(n_epochs=1, random_state=seed + 1000 + k).fit(X_train, y_train).score(X_test, y_test)
              for k in range(orders)]
    return {"as_drawn": as_drawn.score(X_test, y_test), "as_drawn_prototypes": as_drawn.n_prototypes_,
            "others": (min(others), max(others)), "model_bytes": prototype_bytes(clf.n_prototypes_, X_train.shape[1])}
