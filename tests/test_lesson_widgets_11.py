"""Lesson 11's two widgets, driven through each control's extremes: what they draw and print follows the package."""

import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import NOTEBOOKS, drawn, settings  # noqa: E402

from tinydtl.lab.widgets import recording  # noqa: E402
from tinydtl.privacy import epsilon, neighbour_graph  # noqa: E402

STEM = "11_privacy_security"


@pytest.fixture(scope="module")
def widgets():
    nb = nbformat.read(NOTEBOOKS / f"{STEM}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and {"parameters", "setup", "widget"} & set(c.metadata.get("tags", []))]
    ns = {"__name__": f"lesson_{STEM}"}
    with recording() as calls:
        for c in cells:
            src = "\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith("%"))
            exec(compile(src, f"{STEM}:{c.id}", "exec"), ns)
    assert len(calls) == 2, "two widgets: dropouts and DP"
    return {fn.__name__: (fn, controls) for fn, controls in calls}, ns


def test_dropout_widget_unmasks_exactly_when_every_client_keeps_t_holders(widgets, capsys):
    (fn, controls), ns = widgets[0]["explore_dropouts"], widgets[1]
    assert controls["dropouts"].max == 11 and controls["threshold"].max == 12
    for kwargs in settings(fn, controls):
        capsys.readouterr()
        fig, (ax,) = drawn(fn, kwargs)
        out = capsys.readouterr().out
        heights = [p.get_height() for p in ax.patches]
        k = None if kwargs["graph"].startswith("SecAgg (") else 6
        graph = neighbour_graph(12, k, np.random.default_rng([ns["SEED"], 0, 2]))
        dropped = set(np.random.default_rng([ns["SEED"], 11]).permutation(12)[: kwargs["dropouts"]].tolist())
        holders = [len(({u} | set(g.tolist())) - dropped) for u, g in enumerate(graph)]
        assert heights == holders, kwargs
        possible = kwargs["threshold"] <= (12 if k is None else k + 1) and kwargs["dropouts"] < 12
        should = possible and min(holders) >= kwargs["threshold"]
        assert ("UNMASKED" in ax.get_title()) == should, (kwargs, out)
        assert ("unmasked: the exact sum" in out) == should, kwargs
        holders_per_secret = 12 if k is None else k + 1
        assert ("privacy: t =" in out) == (2 * kwargs["threshold"] <= holders_per_secret), kwargs  # t's privacy side
        assert ("not private" in ax.get_title()) == (2 * kwargs["threshold"] <= holders_per_secret), kwargs
        plt.close("all")


def test_dp_widget_prints_the_accountants_epsilon(widgets, capsys):
    fn, controls = widgets[0]["explore_dp"]
    assert controls["noise_multiplier"].min == 0 and controls["clients_per_round"].max == 50
    for kwargs in settings(fn, controls):
        capsys.readouterr()
        fig, (acc_ax, eps_ax) = drawn(fn, kwargs)
        out = capsys.readouterr().out
        eps = float(re.search(r"ε after 10 rounds (\S+)", out).group(1))
        want = epsilon(kwargs["noise_multiplier"], kwargs["clients_per_round"] / 100, 10, 1e-5)
        assert (math.isinf(eps) and math.isinf(want)) or eps == pytest.approx(want, rel=5e-3), kwargs  # printed to 3 digits
        assert len(acc_ax.lines[0].get_xdata()) == 11  # rounds 0..10
        assert len(eps_ax.lines) == (0 if kwargs["noise_multiplier"] == 0 else 1)  # ε = ∞ is not drawn
        plt.close("all")
