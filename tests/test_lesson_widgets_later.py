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

from support import drawn, lesson_widget, settings  # noqa: E402
from tinydtl.widgets import trial_values  # noqa: E402


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
