"""Lesson 05's like-for-like comparisons and seeded sweeps: CFL relayed over the swarm's own radio to a server
at the field's centre, gossip given the heads' links, the label-skew and range sweeps over several seeds, the
range sweep's figure, and the Explore widget's run with its settings table.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from tinydtl.lab.lessons.l05_rules import mean_se

__all__ = ["alpha_summary", "plot_range_sweep", "range_summary", "relayed_cfl", "server_hops", "split_but_fast",
           "widget_run", "with_head_links"]


def server_hops(positions, radio_range: float, side: float = 100.0) -> np.ndarray:
    """Radio hops from each device to a server at the field's centre that has the devices' range (``inf``: no
    path). A device in range of the server is one hop away; every relay adds one."""
    pos = np.asarray(positions, float)
    n = len(pos)
    g = nx.Graph()
    g.add_nodes_from(range(n + 1))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    g.add_edges_from((int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(d < radio_range, 1))))
    g.add_edges_from((n, int(i)) for i in np.flatnonzero(np.linalg.norm(pos - side / 2, axis=1) < radio_range))
    hops = nx.single_source_shortest_path_length(g, n)
    return np.array([hops.get(i, np.inf) for i in range(n)], float)


def relayed_cfl(table, hops, bitrate, *, row="CFL (server)", name="CFL relayed to a server at the centre"):
    """``table`` with a row for CFL whose every device's upload and download travel ``hops`` radio hops (the
    devices with no path to the server send nothing: their bytes are not counted, which favours CFL)."""
    out = table.copy()
    factor = float(np.sum(hops[np.isfinite(hops)]) / len(hops))
    r = out.loc[row].copy()
    for c in ("messages", "MB"):
        if r[c] is not None and not (isinstance(r[c], float) and np.isnan(r[c])):
            r[c] = r[c] * factor
    r["air s"] = None if r["MB"] is None else r["MB"] * 1e6 * 8 / bitrate
    r["MB per round"] = r["MB per round"] * factor
    out.loc[name] = r
    return out


def with_head_links(graph, positions, heads, head_range: float):
    """The radio graph plus a link between every two heads closer than ``head_range`` (the links a bilayer's
    heads use), so that plain gossip can use them too."""
    g = graph.copy()
    hs = [int(h) for h in heads if h >= 0]
    g.add_edges_from((a, b) for k, a in enumerate(hs) for b in hs[k + 1:]
                     if np.linalg.norm(np.asarray(positions)[a] - np.asarray(positions)[b]) < head_range)
    return g


def alpha_summary(per_seed_rows):
    """Per α, the mean over seeds of CFL's and the bilayer's final accuracy, the relative and absolute loss with
    their standard errors, and the mean rounds to target (None if any seed never reached it) and extra rounds."""
    import pandas as pd

    out = {}
    for alpha in dict.fromkeys(r["α"] for r in per_seed_rows):
        rows = [r for r in per_seed_rows if r["α"] == alpha]
        rel, rel_se = mean_se([r["loss (% of CFL)"] for r in rows])
        pts, pts_se = mean_se([r["loss (points)"] for r in rows])
        cfl_r, bl_r = mean_se([r["CFL rounds"] for r in rows])[0], mean_se([r["bilayer rounds"] for r in rows])[0]
        extra = mean_se([None if r["CFL rounds"] is None or r["bilayer rounds"] is None
                         else r["bilayer rounds"] - r["CFL rounds"] for r in rows])[0]
        out[alpha] = {"CFL": np.mean([r["CFL"] for r in rows]), "bilayer (devices)": np.mean([r["bilayer"] for r in rows]),
                      "loss (points)": pts, "SE (points)": pts_se, "loss (% of CFL)": rel, "SE (%)": rel_se,
                      "CFL rounds to target": cfl_r, "bilayer rounds to target": bl_r, "extra rounds": extra}
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "α"
    return table


def range_summary(per_seed_rows):
    """Per range, the mean over seeds of rounds to target (NaN if any seed never reached it), of the final
    accuracy and of the members cut off; the head groups and the round's gap (the same layout for every seed)."""
    import pandas as pd

    out = {}
    for r in dict.fromkeys(row["range (m)"] for row in per_seed_rows):
        rows = [row for row in per_seed_rows if row["range (m)"] == r]
        rounds = [row["rounds"] for row in rows]
        out[r] = {"radio components": rows[0]["radio components"], "head groups": rows[0]["head groups"],
                  "bilayer round gap": rows[0]["bilayer round gap"],
                  "unreachable members": rows[0]["unreachable members"],
                  "rounds": np.nan if None in rounds else float(np.mean(rounds)),
                  "rounds per seed": ", ".join("never" if v is None else str(v) for v in rounds),
                  "final acc": float(np.mean([row["final acc"] for row in rows]))}
    table = pd.DataFrame.from_dict(out, orient="index")
    table.index.name = "range (m)"
    return table


def split_but_fast(sweep) -> list:
    """The ranges whose heads' graph is split (gap 0) yet whose mean rounds to target are within one round of
    the longest range's."""
    best = sweep["rounds"].iloc[-1]
    if np.isnan(best):
        return []
    hit = (sweep["head groups"] > 1) & sweep["rounds"].notna() & (sweep["rounds"] <= best + 1)
    return [float(r) for r in sweep.index[hit]]


def plot_range_sweep(sweep, target, rounds, title, stable=None):
    """Left: mean rounds to ``target`` by radio range (filled dots joined only where reached; an open marker at
    the top = not reached in ``rounds`` by every seed). Right: members cut off from their head and head groups
    by range."""
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    reached = sweep["rounds"].notna()
    ax.plot(sweep.index[reached], sweep["rounds"][reached], marker="o", color="C0", label=f"rounds to {target:.0%} (mean)")
    ax.plot(sweep.index[~reached], [rounds + 1] * int((~reached).sum()), linestyle="none", marker="o",
            markerfacecolor="none", markeredgecolor="C3", markersize=9,
            label=f"not reached in {rounds} rounds (by every seed)")
    if stable is not None:
        ax.axvline(stable, color="grey", linestyle="--", label=f"stable from {stable:g} m")
    ax.set_xlabel("radio range (m), devices and heads")
    ax.set_ylabel("rounds to target")
    ax.set_ylim(0, rounds + 2)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    w = 0.35 * float(np.min(np.diff(sweep.index))) if len(sweep) > 1 else 2.0
    ax2.bar(np.asarray(sweep.index, float) - w / 2, sweep["unreachable members"], width=w, color="C1",
            label="members cut off from their head")
    ax2.bar(np.asarray(sweep.index, float) + w / 2, sweep["head groups"], width=w, color="C2", label="head groups")
    ax2.set_xlabel("radio range (m), devices and heads")
    ax2.set_ylabel("count")
    ax2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def widget_run(x_train, y_train, x_test, y_test, *, n, train, rounds, range_m, clusters, alpha, steps, head_range,
               lr, seed):
    """The Explore widget's short bilayer run: its History, the members cut off and the MB per round."""
    from tinydtl.algorithms.decentralized import run_decentralized
    from tinydtl.algorithms.dk_means import dk_means
    from tinydtl.data.partition import dirichlet
    from tinydtl.networks.topology import bilayer_graph, components, place_devices, random_geometric

    r = float(range_m)
    pos = place_devices(n, side=100.0, seed=seed)
    connect = next(c for c in range(int(r), 200, 5) if len(components(random_geometric(n, float(c), positions=pos))) == 1)
    km = dk_means(pos, int(clusters), random_geometric(n, float(connect), positions=pos), seed=seed)
    h = run_decentralized(x_train, y_train, dirichlet(y_train[:train], n, float(alpha), seed=seed), scheme="bilayer",
                          graph=bilayer_graph(pos, km.labels, km.heads, r, head_radius=max(r, head_range)),
                          clusters=km.labels, heads=km.heads, g_intra=int(steps), g_inter=int(steps), lr=lr,
                          x_test=x_test, y_test=y_test, rounds=rounds, eval_devices=n, seed=seed)
    mb = (np.mean(h.column("bytes_up", initial=False)) + np.mean(h.column("bytes_down", initial=False))) / 1e6
    return h, int(max(h.column("unreachable", initial=False))), float(mb)
