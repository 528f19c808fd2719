"""The widgets of lessons 05, 07, 08 and 09, driven through each control's extremes (issue 13).

As in ``tests/test_lesson_widgets.py``: only a lesson's ``parameters``, ``setup`` and ``widget`` cells run
(:func:`support.lesson_widget`), then the recorded ``explore`` is called at every control's minimum,
default and maximum (every option of a choice) and what it drew is checked against the package.
"""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import drawn, exercise_cell, lesson_widget, settings  # noqa: E402

from tinydtl.lab.widgets import trial_values  # noqa: E402


def stack_heights(ax):
    """Per-bar total height of a stacked bar chart (one container per stacked component)."""
    return np.sum([[p.get_height() for p in c.patches] for c in ax.containers], axis=0)


def test_lesson08_sram_per_device_follows_the_package_at_every_extreme():
    (fn, controls), ns = lesson_widget("08_rocknet")
    assert set(controls) == {"dataset", "devices", "quantized_adam"}
    assert trial_values(controls["quantized_adam"]) == [False, True]
    assert controls["devices"].min == 1 and controls["devices"].max == 84  # 84 kernels: at most one per device
    data, board, device_costs = ns["data"], ns["board"], ns["device_costs"]
    busiest = {}
    for kwargs in settings(fn, controls):
        fig, (sram_ax, time_ax) = drawn(fn, kwargs)
        ds = data[kwargs["dataset"]]
        per = device_costs(ds.X_train.shape[1], ds.n_classes, kwargs["devices"], board,
                           cycles_per_op=ns["CYCLES_PER_OP"], quantized_adam=kwargs["quantized_adam"])
        heights = stack_heights(sram_ax)
        assert len(heights) == kwargs["devices"], kwargs  # one bar per device
        np.testing.assert_allclose(heights, per["sram_bytes"] / 1024, rtol=1e-9)
        np.testing.assert_allclose(stack_heights(time_ax), 1e3 * per["seconds"], rtol=1e-9)
        title = sram_ax.get_title()
        assert kwargs["dataset"] in title and f"D = {kwargs['devices']}" in title
        assert ("8-bit" if kwargs["quantized_adam"] else "float32") in title
        busiest[tuple(kwargs.values())] = heights.max()
    plt.close("all")
    # more devices, less SRAM on the busiest one; 8-bit Adam never costs more
    for name in trial_values(controls["dataset"]):
        for q in (False, True):
            curve = [busiest[(name, d, q)] for d in trial_values(controls["devices"]) if (name, d, q) in busiest]
            assert all(np.diff(curve) < 0), (name, q, curve)
            for d in trial_values(controls["devices"]):
                if (name, d, False) in busiest and (name, d, True) in busiest:
                    assert busiest[(name, d, True)] < busiest[(name, d, False)]


def parse(pattern, text, kwargs):
    m = re.search(pattern, text)
    assert m, f"{kwargs}: {pattern!r} not in {text!r}"
    return float(m.group(1))


def test_lesson05_bilayer_run_reports_reach_bytes_and_accuracy_at_every_extreme():
    (fn, controls), ns = lesson_widget("05_bilayer_gossip")
    assert set(controls) == {"range_m", "clusters", "alpha", "gossip_steps"}
    assert controls["range_m"].min >= 15 and controls["clusters"].min >= 1 and controls["gossip_steps"].min == 0
    seen = {}
    for kwargs in settings(fn, controls):
        fig, (ax,) = drawn(fn, kwargs)
        acc = ax.get_lines()[0].get_ydata()
        assert len(acc) == ns["WIDGET_ROUNDS"] + 1, kwargs  # row 0 = the initial model
        assert np.all(np.isfinite(acc)) and np.all((acc >= 0) & (acc <= 1)), (kwargs, acc)
        assert acc[-1] > acc[0], (kwargs, acc)  # every setting learns something in its rounds
        title = ax.get_title()
        assert title.startswith(f"{kwargs['range_m']} m, {kwargs['clusters']} clusters, α = {kwargs['alpha']}, "
                                f"{kwargs['gossip_steps']} gossip steps"), title
        assert parse(r"final (\d\.\d+)", title, kwargs) == pytest.approx(acc[-1], abs=5e-4)
        seen[tuple(kwargs.values())] = (parse(r"(\d+) unreachable", title, kwargs), parse(r"([\d.]+) MB per round", title, kwargs),
                                        acc[-1])
    plt.close("all")
    default = {k: v.value for k, v in controls.items()}

    def at(**change):
        return seen[tuple({**default, **change}.values())]

    ranges, steps = trial_values(controls["range_m"]), trial_values(controls["gossip_steps"])
    unreachable = [at(range_m=r)[0] for r in ranges]
    assert unreachable[0] > 0 and unreachable[-1] == 0 and all(np.diff(unreachable) <= 0), unreachable  # longer range, fewer cut off
    mb = [at(gossip_steps=g)[1] for g in steps]
    assert all(np.diff(mb) > 0), mb  # every gossip step is paid in bytes
    assert at(range_m=ranges[0])[2] < at()[2]  # members cut off at the shortest range: the final accuracy drops
    final = [at(gossip_steps=g)[2] for g in steps]  # the notice: accuracy grows with the steps, the first buys the most
    assert all(np.diff(final) > 0) and final[1] - final[0] > final[2] - final[1], (steps, final)


def test_lesson09_resimulation_delivers_every_problem_and_slows_with_the_network():
    (fn, controls), ns = lesson_widget("09_globe2train")
    assert set(controls) == {"n_devices", "quality", "threshold_kib"}
    assert controls["quality"].min > 0 and controls["threshold_kib"].min > 0 and controls["n_devices"].min >= 1
    g2t, fleet, n_features = ns["g2t"], ns["fleet"], ns["X"].shape[1]
    problems = len(g2t.pairs_)
    assert problems == 45  # MNIST: 10 · 9 / 2
    seen = {}
    for kwargs in settings(fn, controls, limit=30):
        n, q, kb = kwargs["n_devices"], kwargs["quality"], kwargs["threshold_kib"]
        fig, (ax,) = drawn(fn, kwargs)
        delivered, reassigned = ([p.get_height() for p in c.patches] for c in ax.containers)
        assert sum(delivered) == problems, kwargs  # every binary problem arrives, whatever the setting
        assert all(r >= 0 for r in reassigned)
        res = g2t.resimulate(fleet(n, [q] * n, n_features), threshold_bytes=kb * 1024, churn_rate=ns["CHURN_RATE"])
        assert len(delivered) == res.history.rounds
        title = ax.get_title()
        assert title.startswith(f"{n} device(s) at q = {q:.2f}, W_t = {kb / q:.1f} KiB"), title
        messages, done = parse(r"(\d+) weight messages", title, kwargs), parse(r"after ([\d,]+) s", title.replace(",", ""), kwargs)
        assert messages == res.total("weight_messages") and done == pytest.approx(res.completion_s, abs=0.5)
        assert np.isfinite(done) and done > 0
        seen[(n, q, kb)] = (messages, done)
    plt.close("all")
    n0, q0, kb0 = (controls[k].value for k in ("n_devices", "quality", "threshold_kib"))
    qs, kbs = trial_values(controls["quality"]), trial_values(controls["threshold_kib"])
    times = [seen[(n0, q, kb0)][1] for q in qs]
    assert all(np.diff(times) < 0), times  # a better network finishes sooner
    assert times[0] > 5 * times[-1], times
    msgs = [seen[(n0, q0, kb)][0] for kb in kbs]
    assert all(np.diff(msgs) <= 0) and msgs[0] > msgs[-1], msgs  # a larger W_t batches more classifiers per message


def lesson07_draw(fn, ns, case, delay, budget):
    """Draw the lesson-07 widget once; check the figure against its title; return rounds, mean τ, loss, curves."""
    kwargs = dict(case=case, delay=delay, budget=budget)
    fig, (tau_ax, acc_ax) = drawn(fn, kwargs)
    title = fig._suptitle.get_text()
    assert title.startswith(f"case {ns['CASE_NAMES'][case]}, +{delay:.2f} s per aggregation, budget {budget:g} s"), title
    rounds = int(parse(r"(\d+) rounds", title, kwargs))
    tau = tau_ax.get_lines()[0].get_ydata()
    spent, acc = acc_ax.get_lines()[0].get_data()
    assert len(tau) == rounds == len(acc), (kwargs, rounds, len(tau))  # one τ and one accuracy per aggregation
    assert np.all(tau >= 1) and np.all(tau == np.round(tau)), kwargs
    assert np.all(np.isfinite(acc)) and np.all((acc >= 0) & (acc <= 1)), kwargs
    # the budget rule plans the last rounds with *estimated* costs; the drawn costs may overshoot by about one aggregation
    assert np.all(np.diff(spent) > 0) and budget - 2 < spent[-1] <= budget + delay + 0.5, (kwargs, spent[-1])
    assert 0.5 < parse(r"accuracy ([\d.]+)%", title, kwargs) / 100 <= 1, title  # even/odd: better than a coin
    loss = parse(r"loss ([\d.]+)", title, kwargs)
    assert 0 < loss < 1, title
    return rounds, float(np.mean(tau)), loss, (title, tau.copy(), spent.copy(), acc.copy())


def test_lesson07_delay_raises_tau_budget_buys_rounds_and_a_seed_repeats():
    (fn, controls), ns = lesson_widget("07_adaptive_tau")
    assert set(controls) == {"case", "delay", "budget"}
    cases, delays, budgets = (trial_values(controls[k]) for k in ("case", "delay", "budget"))
    assert cases == [1, 2, 3, 4] and delays[0] == 0.0 and delays[-1] > 0
    assert budgets[0] == 2.0 and budgets[-1] == 20.0 and controls["budget"].value == ns["WIDGET_BUDGET"]
    d0, b0 = delays[0], controls["budget"].value
    calls = ([(c, d0, b0) for c in cases]                                       # every case at the defaults
             + [(cases[0], d0, budgets[0]), (cases[0], d0, budgets[-1])]         # the budget's extremes
             # no delay and the most delay at the largest budget (a small one is spent before τ can grow), first and last case
             + [(cases[0], delays[-1], budgets[-1]), (cases[-1], d0, budgets[-1]), (cases[-1], delays[-1], budgets[-1])]
             + [(cases[-1], delays[-1], budgets[0])])                             # the tightest corner: most delay, least budget
    seen = {call: lesson07_draw(fn, ns, *call) for call in calls}
    again = lesson07_draw(fn, ns, cases[0], d0, b0)  # same seed, same numbers
    plt.close("all")
    first = seen[(cases[0], d0, b0)][3]
    assert again[3][0] == first[0]
    for a, b in zip(again[3][1:], first[1:]):
        np.testing.assert_array_equal(a, b)
    for case in (cases[0], cases[-1]):  # dearer aggregations: fewer rounds, more local steps per round on average
        (r0, t0, *_), (r1, t1, *_) = seen[(case, d0, budgets[-1])], seen[(case, delays[-1], budgets[-1])]
        assert r1 < r0 and t1 > t0, (case, r0, t0, r1, t1)
    # a bigger budget buys more rounds and a lower final loss
    (r_lo, _, l_lo, _), (r_mid, _, l_mid, _), (r_hi, _, l_hi, _) = (seen[(cases[0], d0, b)] for b in (budgets[0], b0, budgets[-1]))
    assert r_lo < r_mid < r_hi, (r_lo, r_mid, r_hi)
    assert l_hi < l_lo, (l_lo, l_mid, l_hi)
    assert seen[(cases[-1], delays[-1], budgets[0])][0] >= 1  # even the tightest corner aggregates at least once
