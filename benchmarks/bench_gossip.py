"""Consensus and spectral gap on a 100,000-device random geometric graph, against networkx baselines;
and one D-PSGD round of 1,000 devices on MNIST.

    uv run python benchmarks/bench_gossip.py [--devices 100000] [--radius 0.01] [--rounds 100] [--baseline-devices 3000]
                                             [--dpsgd-devices 1000] [--dpsgd-rounds 3]

Part 1 times tinydtl end to end on the large swarm (graph, Metropolis weights, 100 gossip rounds,
spectral gap). Part 2 compares, on a swarm small enough for the baselines, tinydtl's spectral gap
and algebraic connectivity with dense numpy eigenvalues and ``nx.algebraic_connectivity``, and
tinydtl's gossip rounds with a plain networkx neighbour loop — same graph, same process.
Part 3 runs D-PSGD (Lian et al. 2017: one SGD step per mixing step) with --dpsgd-devices devices
holding an IID share of MNIST's 60,000 training images each (batch 20, so 60 samples = 3
gradient-and-mixing iterations per round) on a random geometric graph just above the connectivity
threshold, and reports the median wall seconds per round (History's ``seconds``: training and
gossip, evaluation excluded) and its CPU seconds (``cpu_seconds``: less sensitive to other jobs on a
shared machine). Target: under 1 s per round.
"""

from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.data.datasets import load_mnist
from tinydtl.data.partition import iid
from tinydtl.networks import gossip
from tinydtl.networks.gossip import (
    algebraic_connectivity,
    consensus_errors,
    metropolis_weights,
    spectral_gap,
)
from tinydtl.networks.topology import (
    geometric_adjacency,
    place_devices,
    random_geometric,
    require_connected,
)


def timed(f, *a, **k):
    t0 = time.perf_counter()
    out = f(*a, **k)
    return out, time.perf_counter() - t0


def nx_gossip(G, x, rounds):
    """The textbook loop: every device replaces its value by the Metropolis-weighted neighbourhood average."""
    deg = dict(G.degree())
    for _ in range(rounds):
        new = {}
        for i in G:
            acc = x[i]
            for j in G[i]:
                acc += (x[j] - x[i]) / (1 + max(deg[i], deg[j]))
            new[i] = acc
        x = new
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--radius", type=float, default=0.01)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--baseline-devices", type=int, default=3000)
    ap.add_argument("--dpsgd-devices", type=int, default=1000)
    ap.add_argument("--dpsgd-rounds", type=int, default=3)
    ap.add_argument("--skip-gossip", action="store_true", help="run only part 3 (D-PSGD)")
    args = ap.parse_args(argv)
    if not args.skip_gossip:
        gossip_parts(args)
    dpsgd_round(args.dpsgd_devices, args.dpsgd_rounds)


def dpsgd_round(n, rounds):
    """Part 3: seconds per D-PSGD round of ``n`` devices on MNIST."""
    (x, y), _ = load_mnist()
    r = float(np.sqrt(2.5 * np.log(n) / (np.pi * n)))
    G = random_geometric(n, r, seed=0)
    require_connected(G)
    parts = iid(y, n, seed=0)
    run_decentralized(x, y, parts, scheme="dpsgd", graph=G, rounds=1, seed=0)  # warm-up (allocations)
    h = run_decentralized(x, y, parts, scheme="dpsgd", graph=G, rounds=rounds, seed=0)
    df = h.to_frame().iloc[1:]
    wall, cpu = float(np.median(df["seconds"])), float(np.median(df["cpu_seconds"]))
    print(f"\nD-PSGD, {n:,} devices on MNIST ({len(y) // n} images each, batch 20), random geometric graph "
          f"(range {r:.3f}, mean degree {2 * G.number_of_edges() / n:.1f})")
    print(f"  {int(df['iterations'].iloc[0])} gradient+mixing iterations per round, {int(df['messages'].iloc[0]):,} "
          f"messages, {df['bytes_up'].iloc[0] / 1e6:.0f} MB per round")
    print(f"  {wall:.3f} s per round (median wall of {rounds}), {cpu:.3f} s CPU per round (median)"
          f"  -> target < 1 s: {'met' if wall < 1 else 'NOT met'} (wall)")
    return wall, cpu


def gossip_parts(args):

    t_all, cpu_all = time.perf_counter(), time.process_time()
    pos = place_devices(args.devices, seed=0)
    A, t_graph = timed(geometric_adjacency, pos, args.radius)
    require_connected(A)
    W, t_w = timed(metropolis_weights, A)
    errs, t_cons = timed(consensus_errors, W, np.random.default_rng(0).standard_normal(args.devices), args.rounds)
    gap, t_gap = timed(spectral_gap, W)
    total, cpu_total = time.perf_counter() - t_all, time.process_time() - cpu_all
    print(f"{args.devices:,} devices, range {args.radius}, mean degree {A.nnz / args.devices:.1f}")
    print(f"  graph {t_graph:.2f} s | weights {t_w:.2f} s | {args.rounds} gossip rounds {t_cons:.2f} s | "
          f"spectral gap {gap:.4e} in {t_gap:.2f} s | total {total:.2f} s ({cpu_total:.2f} s CPU)"
          f"  -> target < 10 s: {'met' if total < 10 else 'NOT met'} (wall)")
    print(f"  consensus error after {args.rounds} rounds {errs[-1]:.4f}; predicted by the gap "
          f"<= {(1 - gap) ** args.rounds:.4f}")

    n = args.baseline_devices
    r = float(np.sqrt(2.5 * np.log(n) / (np.pi * n)))  # comfortably above the connectivity threshold
    G = random_geometric(n, r, seed=1)
    require_connected(G)
    Wn = metropolis_weights(G)
    old = gossip.DENSE_LIMIT
    gossip.DENSE_LIMIT = 0  # force the sparse path for the comparison
    ours_sparse, t1s = timed(spectral_gap, Wn)
    ours_ac, t2 = timed(algebraic_connectivity, G)
    gossip.DENSE_LIMIT = old
    dense_ev, t3 = timed(np.linalg.eigvals, Wn.toarray())  # general dense eigen-solver
    dense_gap = 1 - np.sort(np.abs(dense_ev))[-2]
    nx_ac, t4 = timed(nx.algebraic_connectivity, G, method="tracemin_pcg", seed=0)
    x0 = {i: float(v) for i, v in enumerate(np.random.default_rng(0).standard_normal(n))}
    _, t5 = timed(nx_gossip, G, x0, 20)
    _, t6 = timed(consensus_errors, Wn, np.array([x0[i] for i in range(n)]), 20)
    print(f"\n{n:,} devices, range {r:.3f} (baselines)")
    print(f"  spectral gap      tinydtl sparse {ours_sparse:.6e} in {t1s:.3f} s"
          f" | numpy dense eig {dense_gap:.6e} in {t3:.2f} s  -> {t3 / t1s:.0f}x")
    print(f"  algebraic conn.   tinydtl {ours_ac:.6e} in {t2:.3f} s | nx.algebraic_connectivity {nx_ac:.6e} in {t4:.2f} s"
          f"  -> {t4 / t2:.0f}x")
    print(f"  20 gossip rounds  tinydtl {t6:.4f} s | networkx loop {t5:.2f} s  -> {t5 / t6:.0f}x")


if __name__ == "__main__":
    main()
