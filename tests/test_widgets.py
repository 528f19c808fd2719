import ipywidgets

from tinydtl.lab.widgets import interact


def test_headless_calls_once_with_the_defaults(monkeypatch):
    monkeypatch.setenv("TINYDTL_HEADLESS", "1")
    calls = []

    def explore(samples=200, noise=0.1, topology="ring"):
        calls.append((samples, noise, topology))

    interact(explore, samples=ipywidgets.IntSlider(value=5, min=1, max=10), noise=ipywidgets.FloatSlider(value=0.3),
             topology=["grid", "ring"])
    assert calls == [(200, 0.1, "ring")]

    def no_defaults(board, hidden):
        calls.append((board, hidden))

    interact(no_defaults, board=["ESP32", "Uno"], hidden=ipywidgets.IntSlider(value=8))
    assert calls[-1] == ("ESP32", 8)


def test_live_uses_ipywidgets(monkeypatch):
    monkeypatch.delenv("TINYDTL_HEADLESS", raising=False)
    w = interact(lambda n=3: n, n=ipywidgets.IntSlider(value=3))
    assert hasattr(w, "widget")


def test_trial_values_read_controls_as_interact_does():
    from tinydtl.lab.widgets import trial_values

    # a checkbox (widget or plain bool): both states, the default first
    assert trial_values(True) == [True, False]
    assert trial_values(ipywidgets.Checkbox(value=False)) == [False, True]
    # interact's (min, max[, step]) shorthand is a slider, not two options
    assert trial_values((1, 9)) == [1, 5, 9]
    assert trial_values((0, 10, 4)) == [0, 4, 10]
    assert trial_values((0.0, 1.0)) == [0.0, 0.5, 1.0]
    assert trial_values((0.0, 1.0, 0.3)) == [0.0, 0.6, 1.0]
    # tuples of labels and (label, value) lists are dropdowns
    assert trial_values(("ring", "grid")) == ["ring", "grid"]
    assert trial_values([("small", 8), ("large", 64)]) == [8, 64]
    # a dropdown whose value is a bool is still a dropdown
    assert trial_values(ipywidgets.Dropdown(options=[("on", True), ("off", False)], value=True)) == [True, False]


def test_trial_values_reject_a_reversed_range():
    import pytest

    from tinydtl.lab.widgets import trial_values

    with pytest.raises(ValueError, match="min <= max"):
        trial_values((9, 1))
