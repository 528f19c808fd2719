import ipywidgets

from tinydtl.widgets import interact


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
