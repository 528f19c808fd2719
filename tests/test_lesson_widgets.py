"""Every lesson widget's callback, driven through each control's extremes (issue 13).

The tests execute only a lesson's ``parameters``, ``setup`` and ``widget`` cells (tags), with
:func:`tinydtl.lab.widgets.recording` capturing the ``interact(explore, **controls)`` call, then calls
``explore`` with every control at its minimum, default and maximum (every option of a choice) and
checks what it drew. The helpers live in ``tests/support.py``; a lesson joins by tagging its cells and adding a
test (here or in ``tests/test_lesson_widgets_NN.py``).
"""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import drawn, exercise_cell, lesson_widget, settings  # noqa: E402

from tinydtl.lab.widgets import trial_values  # noqa: E402


def test_trial_values_cover_the_range():
    import ipywidgets

    assert trial_values(ipywidgets.IntSlider(value=5, min=1, max=9)) == [1, 5, 9]
    assert trial_values(ipywidgets.SelectionSlider(options=[9, 16, 25], value=16)) == [9, 16, 25]
    assert trial_values(ipywidgets.Dropdown(options=[("a", 1), ("b", 2)])) == [1, 2]
    assert trial_values(["x", "y"]) == ["x", "y"]
    # a log slider's min and max are exponents: the values tried are 10**-2 and 10**2, not -2 and 2
    assert trial_values(ipywidgets.FloatLogSlider(value=1.0, min=-2, max=2)) == pytest.approx([0.01, 1.0, 100.0])


def test_lesson04_every_control_acts_for_every_topology():
    (fn, controls), ns = lesson_widget("04_gossip_spectral_gap")
    assert set(controls) == {"topology", "devices", "radio_range"}
    devices = trial_values(controls["devices"])
    assert all(int(np.sqrt(d)) ** 2 == d for d in devices), "device counts must be perfect squares (exact grid)"
    assert controls["radio_range"].min > 0 and controls["radio_range"].max <= 1.5
    for kwargs in settings(fn, controls):
        fig, axes = drawn(fn, kwargs)
        nodes = axes[0].collections[-1].get_offsets()
        assert len(nodes) == kwargs["devices"], f"{kwargs}: drew {len(nodes)} devices"  # no silent rounding
        title = axes[0].get_title()
        assert f"{kwargs['devices']} devices" in title and "gap" in title
        if kwargs["topology"] == "grid":
            side = int(np.sqrt(kwargs["devices"]))
            assert f"{side} × {side}" in title
        curve = axes[1].get_lines()[0].get_ydata()
        assert np.all(np.isfinite(curve)) and curve[0] == pytest.approx(1.0)
    # the radio range changes the geometric graph: more links at the longest range than at the shortest
    links = []
    for r in (controls["radio_range"].min, controls["radio_range"].max):
        _, axes = drawn(fn, {"topology": "random geometric", "devices": 64, "radio_range": r})
        links.append(int(axes[0].get_title().split(" links")[0].split()[-1]))
        if r == controls["radio_range"].min:  # the notice: a short range splits the graph, the title says gap 0
            title = axes[0].get_title()
            assert int(re.search(r"(\d+) component", title).group(1)) > 1 and "gap 0.0000" in title, title
            assert np.ptp(axes[1].get_lines()[1].get_ydata()) == 0  # the dashed |λ₂|^t line is flat
    assert links[0] < links[1]
    plt.close("all")
    # live, the range slider is greyed out where it does nothing
    for topology in trial_values(controls["topology"]):
        controls["topology"].value = topology
        assert controls["radio_range"].disabled == (topology != "random geometric"), topology


def test_lesson06_verdict_follows_usable_sram_at_every_extreme():
    (fn, controls), ns = lesson_widget("06_mcu_memory")
    assert set(controls) == {"board", "hidden", "scheme", "neighbours", "dtype", "optimizer", "usable"}
    boards, profile, mlp_layers = ns["boards"], ns["profile"], ns["mlp_layers"]
    from tinydtl.devices import ASSUMPTIONS

    # the usable share starts at the package's one assumption, and the slider reaches both sides of it
    assert controls["usable"].value == ASSUMPTIONS.usable_sram_fraction
    assert controls["usable"].min < ASSUMPTIONS.usable_sram_fraction < controls["usable"].max == 1.0
    agg = {"none": "none", "store all": "store_all", "Cumulative FedAvg": "cumulative"}
    for kwargs in settings(fn, controls):
        fraction = kwargs["usable"]
        fig, (ax,) = drawn(fn, kwargs)
        sizes = [784, 10] if kwargs["hidden"] == 0 else [784, kwargs["hidden"], 10]
        a = agg[kwargs["scheme"]]
        p = profile(mlp_layers(sizes), dtype=kwargs["dtype"], optimizer=kwargs["optimizer"], aggregation=a,
                    neighbours=kwargs["neighbours"] if a != "none" else 0)
        usable = int(boards[kwargs["board"]].sram_bytes * fraction)
        usable_line, peak_line = ax.get_lines()[:2]
        assert usable_line.get_xdata()[0] == pytest.approx(usable / 1024)
        assert peak_line.get_xdata()[0] == pytest.approx(p.sram_bytes / 1024)
        assert ax.get_title().startswith("fits" if p.sram_bytes <= usable and p.flash_bytes <= boards[kwargs["board"]].flash_bytes
                                         else "does NOT fit"), (kwargs, ax.get_title())
        assert f"({fraction:.0%} of {kwargs['board']})" in ax.get_title()
    plt.close("all")
    for scheme in trial_values(controls["scheme"]):  # live, neighbours is greyed out for "none"
        controls["scheme"].value = scheme
        assert controls["neighbours"].disabled == (scheme == "none"), scheme



def test_lesson06_prose_quotes_no_computed_numbers():
    """Issue 12: lesson 06's markdown quotes only datasheet figures (data/boards.toml) and definitions;
    every byte count, KiB, mJ, ms or share the lesson computes is printed by code instead."""
    import nbformat
    from support import NOTEBOOKS

    from tinydtl.devices import load_boards

    boards = load_boards().values()
    kib = {b.sram_bytes / 1024 for b in boards} | {b.flash_bytes / 1024 for b in boards}  # datasheets (KB = KiB)
    allowed = {
        "KiB": kib | {1}, "KB": kib,  # 1: the unit's definition
        # 1 KiB = 1,024 B; float32 = 4 bytes; TFLM aligns to 16 bytes; the linker keeps 512 B of stack; a board's SRAM in B
        "B": {1024, 4, 16, 512} | {b.sram_bytes for b in boards},
        "MHz": {b.clock_hz / 1e6 for b in boards} | {25},  # 25: mps2-an386's timer
        "mA": {4.8, 4.6}, "µA/MHz": {52}, "V": {3},  # nRF52840 currents and supply (data/boards.toml)
        "mJ": set(), "ms": set(), "s": set(), "%": set(),  # computed: printed by code, never typed
    }
    unit = {"bytes": "B", "-byte": "B"}
    nb = nbformat.read(NOTEBOOKS / "06_mcu_memory.ipynb", as_version=4)
    typed = [(m.group(0), c.source[max(0, m.start() - 50):m.end()])
             for c in nb.cells if c.cell_type == "markdown"
             for m in re.finditer(r"(\d[\d,]*(?:\.\d+)?)\s?(-byte|bytes|KiB|KB|B|mJ|ms|µA/MHz|mA|MHz|V|%|s)\b", c.source)
             if float(m.group(1).replace(",", "")) not in allowed[unit.get(m.group(2), m.group(2))]]
    assert not typed, f"computed numbers typed into lesson 06's prose (print them from code): {typed}"

def test_exercise_checks_accept_the_answer_and_name_the_common_mistake(capsys):
    """Lesson 06's exercises call the package's checks (lesson 04's live in tinydtl.lab.exercises.l04_gossip)."""

    # lesson 06's exercise cells only call the checks kept in the package (tests/test_exercises_06.py tests them)
    for first_line, check in (("# Exercise 1", "check_peak_sram(my_peak_sram)"),
                              ("# Exercise 2", "check_cumulative_fedavg(MyCumulativeFedAvg)")):
        cell = exercise_cell("06_mcu_memory", first_line)
        assert check in cell and "raise NotImplementedError" in cell and "profile" not in cell


# Numbers lessons 01, 03, 04, 05, 08 and 09 may type into their prose: definitions, parameter defaults, closed forms
# and the papers' own numbers. Anything measured (a gap, an accuracy, a run time, a ratio) is printed by code.
TYPED_OK = {
    "01_survey_taxonomy": {
        ("75", "%"),  # the suite's usable-SRAM assumption (tinydtl.devices.assumptions)
        ("1", "%"), ("10", "%"),  # top-1 % and top-10 %: compression settings (the widget's and section 5's)
        ("100", "%"),  # the widget's defaults send float32 itself: 100 % of float32's bytes by definition
        ("30", "%"),  # exercise 5's trim
    },
    "03_federated_mnist": {
        ("85", "%"),  # the survey's "around 85 %"
        ("82.5", "%"), ("87.5", "%"),  # the band's definition: 85 rounded to the nearest five points
        ("0.1", ""),  # Dirichlet α (a parameter of the splits)
        ("1", "×"),  # "section 1 ×": a section number, not a measurement
        ("75", "minutes"),  # the lesson's reading time
    },
    "04_gossip_spectral_gap": {
        ("0.25", ""),  # the widget's default range
        ("2.5", ""),  # mean of 0 … 5 (the from-scratch example's start values)
        ("1", "%"),  # ε = 1 % in the exercises; the decay claim's 1 % tolerance
        ("10", "rounds"), ("200", "rounds"),  # exercise 2's run; the widget's fixed run length
        ("50", "rounds"),  # exercise 5's speed target
    },
    "05_bilayer_gossip": {
        ("0.1", ""), ("0.5", ""),  # Dirichlet α (0.5 the paper's; 0.1 the source summary's suggested skew)
        ("1.33", ""), ("2.3", ""), ("2.45", ""),  # closed forms of the from-scratch toy (unweighted / weighted means)
        ("1.8", ""), ("1.8", "rounds"), ("8", "%"), ("8", "points"),  # the paper's numbers
        ("0.05", ""), ("100", "×"), ("0.80", ""),  # the authors' simulator: turn probability, field, their target level
        ("85", "%"),  # the default target (the survey's 85 %)
        ("100", "%"),  # relative > absolute loss whenever accuracy is below 100 %
        ("75", "%"), ("1,024", "B"),  # the package's device assumptions: usable SRAM, KiB
        ("2501.04817", ""),  # arXiv id
    },
    "12_bilayer_authors": {
        ("1.8", ""), ("1.8", "rounds"), ("8", "%"),  # the paper's numbers
        ("0.5", ""), ("0.80", ""), ("0.2", ""),  # α of the authors' runs; their target level; an early commit's speed
        ("2501.04817", ""),  # arXiv id
    },
    "08_rocknet": {
        ("2", "×"), ("90", "%"),  # the paper's claims
        ("90", "minutes"),  # the lesson's length (45–90 minutes)
        ("2510.13320", ""),  # arXiv id
    },
    "09_globe2train": {
        ("0.05", ""), ("0.1", ""), ("0.25", ""),  # network qualities (parameters/widget bounds); 0.25 flop per cycle
    },
}
TYPED = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(%|×|ms\b|s\b|min\b|minutes?\b|seconds?\b|points?\b|rounds?\b|"
                   r"MB\b|KB\b|KiB\b|B\b)|(?<![\w.])(\d+\.\d+)(?![\w.])")


@pytest.mark.parametrize("stem", sorted(TYPED_OK))
def test_prose_types_no_measured_numbers(stem):
    """Issue 13: a 'what to notice' sentence points at the printed number; it never types a measured one
    (lesson 04's widget notice once said 'a gap of about 0.02', lesson 05 'round 1 is near 70 %', lesson 08
    'about a minute'). Maths ($…$) and code (`…`) are not prose."""
    import nbformat
    from support import NOTEBOOKS

    nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    typed = []
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", c.source, flags=re.S)
        for m in TYPED.finditer(prose):
            found = (m.group(1) or m.group(3), m.group(2) or "")
            if found not in TYPED_OK[stem]:
                typed.append((m.group(0), prose[max(0, m.start() - 50):m.end()]))
    assert not typed, f"{stem}: numbers typed into the prose (print them from code, or allow a definition here): {typed}"
