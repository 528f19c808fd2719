"""Figures used by the lessons: each takes data or a fitted model and an optional Axes."""

from __future__ import annotations

import numpy as np

from tinydtl.core.validation import as_rng, check_int

__all__ = [
    "CLASS_COLOURS",
    "plot_points_3d",
    "plot_prototypes_3d",
    "plot_online_curve",
    "plot_heatmap",
    "plot_accuracy_curves",
    "draw_graph",
    "plot_message_sequence",
]

CLASS_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _axes3d(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        fig = plt.figure(figsize=(5, 5))
        ax = fig.add_subplot(projection="3d")
    return ax


def _unit_sphere(ax, radius=1.0):
    u, v = np.mgrid[0 : 2 * np.pi : 24j, 0 : np.pi : 12j]
    ax.plot_wireframe(
        radius * np.cos(u) * np.sin(v),
        radius * np.sin(u) * np.sin(v),
        radius * np.cos(v),
        color="grey",
        alpha=0.15,
        linewidth=0.5,
    )


def _label_axes(ax, title):
    from matplotlib.ticker import MaxNLocator

    for axis, name in ((ax.xaxis, "$x_1$"), (ax.yaxis, "$x_2$"), (ax.zaxis, "$x_3$")):
        axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10]))  # -1, 0, 1: labels that do not collide
        axis.set_tick_params(labelsize=8, pad=1)
        axis.set_label_text(name)
        axis.labelpad = 2
    if title:
        ax.set_title(title)


def plot_points_3d(X, y, ax=None, *, names=("outside", "inside"), max_points=1500, title=None, seed=0):
    """Scatter labelled 3-D points (a random subset of at most ``max_points``), with the unit sphere."""
    ax = _axes3d(ax)
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 3:
        raise ValueError(f"X must be an (n, 3) array of 3-D points, got shape {X.shape}")
    if y.shape != (len(X),):
        raise ValueError(f"y must have one label per point, shape ({len(X)},), got {y.shape}")
    check_int("max_points", max_points, 1)
    rng = as_rng("seed", seed)
    if len(X) > max_points:
        keep = rng.choice(len(X), max_points, replace=False)
        X, y = X[keep], y[keep]
    for k, name in enumerate(names):
        pts = X[y == k]
        ax.scatter(*pts.T, s=4, alpha=0.5, color=CLASS_COLOURS[k], label=name)
    _unit_sphere(ax)
    _label_axes(ax, title)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_prototypes_3d(model, ax=None, *, names=("outside", "inside"), edges=True, title=None):
    """Draw a fitted ILVQ's prototypes (coloured by class) and its graph edges in 3-D."""
    ax = _axes3d(ax)
    P, L = model.prototypes_, model.prototype_labels_
    if edges and len(model.edges_):
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        # one collection, not one Line3D per edge: a 1,500-edge graph redraws in a fraction of a second
        ax.add_collection3d(Line3DCollection(P[model.edges_], colors="black", alpha=0.25, linewidths=0.6))
    for k, cls in enumerate(model.classes_):
        pts = P[L == cls]
        name = names[k] if k < len(names) else str(cls)
        ax.scatter(*pts.T, s=18, color=CLASS_COLOURS[k % len(CLASS_COLOURS)], label=f"{name} ({len(pts)})")
    _unit_sphere(ax)
    lim = max(1.05, float(np.abs(P).max()) if len(P) else 1.05)
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-lim, lim)
    _label_axes(ax, title)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_online_curve(curve, axes=None, *, label=None, reference=None, accuracy_floor=None):
    """Two panels from :func:`tinydtl.lab.evaluation.online_curve`: accuracy and prototypes vs samples seen
    (the prototype axis from 0; with ``n_insertions`` in ``curve``, the cumulative insertions dashed).

    ``reference`` (optional) draws a horizontal accuracy line, e.g. the published claim; ``accuracy_floor``
    (optional, e.g. the chance level) starts the accuracy axis there, up to 1.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_acc, ax_n = axes
    ax_acc.plot(curve["samples_seen"], curve["accuracy"], marker="o", ms=3, label=label)
    if reference is not None:
        value, text = reference
        ax_acc.axhline(value, color="grey", linestyle="--", linewidth=1, label=text)
    ax_acc.set_xlabel("training samples seen")
    ax_acc.set_ylabel("test accuracy")
    if accuracy_floor is not None:
        ax_acc.set_ylim(accuracy_floor, 1)
    ax_acc.legend(fontsize=8)
    ax_n.plot(curve["samples_seen"], curve["n_prototypes"], marker="o", ms=3, label="prototypes held")
    if "n_insertions" in curve and not np.all(np.isnan(curve["n_insertions"])):
        ax_n.plot(curve["samples_seen"], curve["n_insertions"], linestyle="--", label="inserted so far")
        ax_n.legend(fontsize=8, loc="upper left")
    ax_n.set_xlabel("training samples seen")
    ax_n.set_ylabel("prototypes")
    ax_n.set_ylim(bottom=0)
    return axes


def label_colour(rgba) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgba`` (WCAG relative luminance above 0.179, where the two contrasts are equal)."""
    r, g, b = (((c / 12.92) if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4) for c in rgba[:3])
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 else "white"


def plot_heatmap(table, *, rows, cols, value, ax=None, fmt="{:.3f}", cmap="viridis", title=None, labels=None):
    """Heat map of ``value`` over two parameters of a sweep table (a pandas DataFrame).

    ``labels`` maps column names to what the axes and the colour bar say (e.g. ``{"alpha": "Dirichlet α"}``);
    a name without a label is shown as it is.
    """
    labels = dict(labels or {})
    import matplotlib.pyplot as plt

    grid = table.pivot(index=rows, columns=cols, values=value)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5))
    im = ax.imshow(grid.values, cmap=cmap, origin="lower", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(r) for r in grid.index])
    ax.set_xlabel(labels.get(cols, cols))
    ax.set_ylabel(labels.get(rows, rows))
    for (r, c), v in np.ndenumerate(grid.values):
        ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8, color=label_colour(im.cmap(im.norm(v))))
    ax.figure.colorbar(im, ax=ax, label=labels.get(value, value))
    if title:
        ax.set_title(title)
    return ax


def plot_accuracy_curves(curves: dict, ax=None, *, reference=None, claim=None, title=None, xlabel="round"):
    """Test accuracy per round for several runs (``label -> list of accuracies``).

    ``reference`` = ``(accuracies, label)`` draws e.g. centralised training as a dashed black line
    (one point per epoch); ``claim`` = ``(value, label)`` a grey horizontal line.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for label, acc in curves.items():
        ax.plot(np.arange(1, len(acc) + 1), acc, label=str(label))
    if reference is not None:
        acc, label = reference
        ax.plot(np.arange(1, len(acc) + 1), acc, color="black", linestyle="--", linewidth=1.2, label=label)
    if claim is not None:
        value, label = claim
        ax.axhline(value, color="grey", linestyle=":", linewidth=1.2, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7)
    return ax


def draw_graph(G, ax=None, *, title=None, node_color="#1f77b4", node_size=25, pos=None, edge_alpha=0.35,
               edge_width=0.7, title_size=9):
    """Draw a tinydtl topology at its devices' ``pos`` (unit square), without axes clutter.

    ``pos`` (node -> (x, y)) overrides the stored positions, e.g. a snake for a path graph so it does not
    draw as a bar; ``edge_alpha`` / ``edge_width`` thin the edges of dense graphs (a complete graph)."""
    import matplotlib.pyplot as plt
    import networkx as nx

    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    if pos is None:
        pos = {i: tuple(p) for i, p in nx.get_node_attributes(G, "pos").items()} or nx.spring_layout(G, seed=0)
    nx.draw_networkx_edges(G, pos, ax=ax, alpha=edge_alpha, width=edge_width)
    nx.draw_networkx_nodes(G, pos, ax=ax, node_size=node_size, node_color=node_color)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=title_size)
    return ax


def plot_message_sequence(messages, actors, ax=None, *, title=None):
    """A message sequence chart: ``actors`` as vertical lifelines, ``messages`` as labelled arrows.

    ``messages`` is a list of ``(sender, receiver, label)``; a sender equal to its receiver draws a
    note on that lifeline (local work). Time runs downwards.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * len(messages) + 1.2))
    xs = {a: i for i, a in enumerate(actors)}
    n = len(messages)
    for a, x in xs.items():
        ax.plot([x, x], [0.5, n + 0.6], color="0.6", lw=1, zorder=0)
        ax.text(x, 0.1, a, ha="center", va="center", fontsize=10, fontweight="bold",
                bbox=dict(boxstyle="round", fc="#eef3fb", ec="#1f77b4"))
    for i, (src, dst, label) in enumerate(messages, start=1):
        if src == dst:  # local work: a note centred on the chart, tied to its lifeline by a dot
            ax.plot([xs[src]], [i], "o", color="#ff7f0e", ms=4)
            ax.text((len(actors) - 1) / 2, i, label, ha="center", va="center", fontsize=9, style="italic",
                    bbox=dict(boxstyle="square", fc="#fff6e0", ec="#ff7f0e", lw=0.8))
            continue
        ax.annotate("", xy=(xs[dst], i), xytext=(xs[src], i),
                    arrowprops=dict(arrowstyle="->", color="#1f77b4", lw=1.3))
        ax.text((xs[src] + xs[dst]) / 2, i - 0.15, label, ha="center", va="bottom", fontsize=9)
    ax.set_xlim(-0.6, len(actors) - 0.4)
    ax.set_ylim(n + 0.8, -0.4)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax
