"""The summary picture of a sweep: one quantity over two grid axes, averaged over the others."""

from __future__ import annotations

__all__ = ["plot_summary"]


def _axes_to_draw(grid: dict, rows, cols) -> tuple:
    """``(rows, cols)``: the given ones, else the grid parameters with the most values (grid order)."""
    axes = [n for n in grid if len(grid[n]) > 1]
    if rows is None and cols is None:
        ranked = sorted(axes, key=lambda n: -len(grid[n]))[:2]  # the two longest axes, in grid order
        rows, cols = (sorted(ranked, key=list(grid).index) + [None, None])[:2]
    elif rows is None or cols is None:
        given = rows or cols
        rest = sorted((n for n in axes if n != given), key=lambda n: -len(grid[n]))
        other = rest[0] if rest else None
        rows, cols = (given, other) if rows else (other, given)
    if rows is None and cols is not None:  # one axis: a line over it
        rows, cols = cols, None
    return rows, cols


def plot_summary(table, grid: dict, *, value=None, rows=None, cols=None, ax=None, labels=None):
    """Heat map of ``value`` (a claim or metric name) over two grid axes, averaged over the others.

    Defaults: the first quantity in the table, and the two grid parameters with the most values
    (``rows`` the first of them in grid order). With one varying parameter it draws a line.
    ``labels`` maps parameter and quantity names to what the axes, title and colour bar say (e.g.
    ``{"final_accuracy": "final test accuracy", "alpha": "Dirichlet α"}``); without one a name is
    shown as it is. Returns the Axes, or ``None`` if no point finished or nothing varies.
    """
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())):
        raise TypeError(f"labels must be a dict of names to label strings, got {labels!r}")
    labels = dict(labels or {})
    from tinydtl.lab.plots import plot_heatmap

    ok = table[(table["status"] == "ok") & table["quantity"].notna()]
    if ok.empty:
        return None
    value = value or ok["quantity"].iloc[0]
    if value not in set(ok["quantity"]):
        raise ValueError(f"value must be one of the recorded quantities {sorted(set(ok['quantity']))}, got {value!r}")
    for label, name in (("rows", rows), ("cols", cols)):
        if name is not None and name not in grid:
            raise ValueError(f"{label} must be a grid parameter ({', '.join(grid)}), got {name!r}")
    rows, cols = _axes_to_draw(grid, rows, cols)
    if rows is None:
        return None
    data = ok[ok["quantity"] == value]
    others = [n for n in grid if len(grid[n]) > 1 and n not in (rows, cols)]
    note = f" (mean over {', '.join(labels.get(o, o) for o in others)})" if others else ""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5.5, 4), layout="constrained").subplots()
    if cols is None:
        line = data.groupby(rows, sort=True)["value"].mean()
        ax.plot([str(i) for i in line.index], line.values, marker="o")
        ax.set_xlabel(labels.get(rows, rows))
        ax.set_ylabel(labels.get(value, value))
        ax.set_title(f"{labels.get(value, value)}{note}", fontsize=9)
        return ax
    means = data.groupby([rows, cols], sort=True)["value"].mean().rename(value).reset_index()
    return plot_heatmap(means, rows=rows, cols=cols, value=value, ax=ax, title=f"{labels.get(value, value)}{note}",
                        labels=labels)
