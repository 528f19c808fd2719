"""Checks of lesson 04's exercises (gossip and the spectral gap): the ring's gap, whole rounds, the
per-round contraction factor of a possibly non-symmetric W, the best constant edge weight.

Each check runs the student's function on its own cases (not only the sizes the lesson names), gives a
specific message for each common wrong answer, turns malformed answers into feedback, and refuses the
package's own implementation (:func:`tinydtl.lab.exercises.refuse_package`).
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np

from tinydtl.lab.exercises import Feedback, call_student, read_number, refuse_package
from tinydtl.lab.lessons.l04_gossip import ring_gap_closed_form
from tinydtl.networks import gossip
from tinydtl.networks.topology import ring, star

__all__ = ["check_best_constant_weights", "check_contraction", "check_ring_gap", "check_ring_rounds", "check_smallest_range"]

RING_SIZES = (3, 4, 5, 12, 24, 48, 101, 1000)


# ----------------------------------------------------------------------------- exercise 1: the ring's gap
def _ring_mistakes(n):
    c = math.cos(2 * math.pi / n)
    lam_n = min((1 + 2 * math.cos(2 * math.pi * k / n)) / 3 for k in range(n))
    return [
        ((1 + 2 * c) / 3, "that is |λ₂| itself; the gap is 1 − |λ₂|"),
        (1 - lam_n, "that is 1 − λ_n, from the most negative eigenvalue; the gap uses the second-LARGEST modulus "
                    "|λ₂| (the k nearest the consensus direction k = 0)"),
        (1 - abs(lam_n), "that is 1 − |λ_n|, from the most negative eigenvalue; the gap uses the second-LARGEST "
                         "modulus |λ₂| (the k nearest the consensus direction k = 0)"),
        (2 - 2 * c, "that is an eigenvalue of the Laplacian L, a number of the graph alone (its algebraic "
                    "connectivity); the Metropolis ring's W is I − L/3"),
        (4 * math.pi ** 2 / (3 * n ** 2), "that is the large-n approximation, off by more at small n; give the exact "
                                          "closed form"),
        (1 - (1 + 2 * math.cos(2 * math.pi / n * math.pi / 180)) / 3, "cos takes radians (np.cos(2 * np.pi * k / n)), "
                                                                     "not degrees"),
    ]


def check_ring_gap(student_fn) -> Feedback:
    """Exercise 1a: ``student_fn(n) -> gap`` of the Metropolis ring of ``n`` devices, from the closed form."""
    check = "Exercise 1a: ring_gap"
    answers = {n: gossip.spectral_gap(gossip.metropolis_weights(ring(n))) for n in RING_SIZES}
    with refuse_package(gossip.spectral_gap, gossip.slem, gossip.metropolis_weights,
                        why="derive the gap from the closed form of the ring's eigenvalues, without an eigensolver"):
        for n, right in answers.items():
            got, fb = call_student(check, student_fn, n)
            if fb:
                return fb
            got, fb = read_number(check, got, f"ring_gap({n})")
            if fb:
                return fb
            if math.isclose(got, right, rel_tol=1e-6, abs_tol=1e-12):
                continue
            for wrong, why in _ring_mistakes(n):
                if math.isclose(got, wrong, rel_tol=1e-6, abs_tol=1e-12):
                    return Feedback(check, False, [f"n = {n}: {got:.6g} is not the gap: {why}."])
            return Feedback(check, False, [f"n = {n}: {got:.6g} is not the ring's gap; work out 1 − |λ₂| from W's "
                                           "eigenvalues 1 − (2 − 2cos(2πk/n))/3, k = 0 … n − 1"])
    return Feedback(check, True, [f"right for n = {', '.join(map(str, RING_SIZES))}. Now print gap × n² for growing n: "
                                  "what does it approach, and what does that say about large rings?"])


ROUND_CASES = [(12, 1e-3), (48, 1e-2), (1000, 1e-3), (4, 0.5), (3, 1e-6), (101, 1e-6)]


def _rounds_mistakes(gap, eps):
    t = math.log(1 / eps) / math.log(1 / (1 - gap)) if gap < 1 else 1.0
    out = [(t, "a round is whole: round the bound up (math.ceil)"),
           (math.floor(t), "rounding down leaves the error above ε after the last round: round up"),
           (round(t), "rounding to the nearest can leave the error above ε: round up"),
           (math.ceil(math.log(1 / eps) / gap), "log(1/ε)/gap is the approximation for small gaps; the bound is "
                                                "log(1/ε)/log(1/|λ₂|)"),
           (math.ceil(math.log10(1 / eps) / math.log(1 / (1 - gap))) if gap < 1 else None,
            "mixing log10 and the natural log: use the same logarithm above and below")]
    return [(w, why) for w, why in out if w is not None and math.isfinite(w)]


def check_ring_rounds(student_fn) -> Feedback:
    """Exercise 1b: ``student_fn(n, eps) -> whole rounds`` a Metropolis ring needs to reach ``eps`` by the bound."""
    check = "Exercise 1b: ring_rounds"
    gaps = {n: ring_gap_closed_form(n) for n, _ in ROUND_CASES}  # equal to the package's (tests/test_exercises_04.py)
    answers = [gossip.predicted_rounds(gaps[n], eps, whole=True) for n, eps in ROUND_CASES]
    with refuse_package(gossip.predicted_rounds, gossip.spectral_gap, gossip.slem, gossip.metropolis_weights,
                        why="use your closed-form gap and the bound ⌈log(1/ε) / log(1/|λ₂|)⌉ yourself"):
        for (n, eps), right in zip(ROUND_CASES, answers):
            got, fb = call_student(check, student_fn, n, eps)
            if fb:
                return fb
            got, fb = read_number(check, got, f"ring_rounds({n}, {eps:g})")
            if fb:
                return fb
            if got == right:
                continue
            for wrong, why in _rounds_mistakes(gaps[n], eps):
                if math.isclose(got, wrong, rel_tol=1e-9):
                    return Feedback(check, False, [f"n = {n}, ε = {eps:g}: you returned {got:g}; {why}."])
            return Feedback(check, False, [f"n = {n}, ε = {eps:g}: you returned {got:g}, not the rounds the bound "
                                           "guarantees; use ⌈log(1/ε) / log(1/|λ₂|)⌉ with your ring gap"])
    return Feedback(check, True, [f"right in all {len(ROUND_CASES)} cases; compare the 1,000-device ring with the "
                                  "rounds section 1 printed for 36 devices."])


# ----------------------------------------------------------------------------- exercise 2: one round's guarantee
def _mixed(n, a, b, c):
    """a I + b (cyclic shift) + c (swap of devices 0 and 1): doubly stochastic, not symmetric, not normal."""
    eye = np.eye(n)
    return a * eye + b * np.roll(eye, 1, axis=0) + c * eye[[1, 0, *range(2, n)]]


def _contraction_cases():
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    return [("the two-device swap", swap), ("a 7-device Metropolis star", gossip.metropolis_weights(star(7)).toarray()),
            ("an 8-device Metropolis ring", gossip.metropolis_weights(ring(8)).toarray()),
            ("complete averaging of 4 devices", np.full((4, 4), 0.25)),
            ("a 3-device one-way mix 0.2 I + 0.5 shift + 0.3 swap", _mixed(3, 0.2, 0.5, 0.3)),
            ("a 4-device one-way mix 0.2 I + 0.5 shift + 0.3 swap", _mixed(4, 0.2, 0.5, 0.3)),
            ("a 5-device one-way mix 0.3 I + 0.3 shift + 0.4 swap", _mixed(5, 0.3, 0.3, 0.4)),
            ("two disconnected pairs", np.kron(np.eye(2), np.full((2, 2), 0.5)))]


def _contraction_mistakes(W):
    n = W.shape[0]
    mods = np.sort(np.abs(np.linalg.eigvals(W)))
    ev2 = np.sort(np.linalg.eigvals(W).real)[-2]
    D = W - np.full((n, n), 1 / n)
    return [(mods[-2], "that is the second-largest eigenvalue modulus. For a W that is not symmetric the eigenvalues "
                       "do not bound a single round: an error vector can grow for a few rounds before it shrinks. The "
                       "guarantee for one round is how much W − 11ᵀ/n can stretch any vector"),
            (ev2, "that is the second-largest eigenvalue with its sign (its real part); the guarantee must hold for "
                  "every error vector, of either sign"),
            (np.linalg.norm(W, 2), "that is the norm of W itself, always 1: the consensus direction 1 keeps its length; "
                                   "take it out first (subtract 11ᵀ/n)"),
            (np.linalg.norm(D), "that is the Frobenius norm (np.linalg.norm's default for a matrix), which is larger "
                                "than the largest stretch; ask for the spectral norm (ord=2)"),
            (1 - np.linalg.norm(D, 2), "that is 1 minus the factor (a gap); the exercise asks for the factor itself")]


def check_contraction(student_fn) -> Feedback:
    """Exercise 2: ``student_fn(W) -> c``, the smallest c with ‖W e‖ ≤ c ‖e‖ for every error e ⟂ 1, of a doubly
    stochastic numpy array ``W`` that need not be symmetric."""
    check = "Exercise 2: my_contraction"
    cases = _contraction_cases()
    answers = [float(np.linalg.norm(W - np.full(W.shape, 1 / W.shape[0]), 2)) for _, W in cases]
    mistakes = [_contraction_mistakes(W) for _, W in cases]
    with refuse_package(gossip.slem, gossip.spectral_gap, why="compute the factor with numpy yourself"):
        for (what, W), right, wrongs in zip(cases, answers, mistakes):
            got, fb = call_student(check, student_fn, W.copy())
            if fb:
                return fb
            got, fb = read_number(check, got, f"my_contraction of {what}")
            if fb:
                return fb
            if math.isclose(got, right, abs_tol=1e-9):
                continue
            for wrong, why in wrongs:
                if math.isclose(got, wrong, abs_tol=1e-9):
                    return Feedback(check, False, [f"{what}: you returned {got:.4g}; {why}."])
            return Feedback(check, False, [f"{what}: you returned {got:.4g}, not the factor one round guarantees; "
                                           "it is the largest ‖W e‖ / ‖e‖ over errors e whose entries sum to 0"])
    return Feedback(check, True, [f"right on all {len(cases)} matrices. On the symmetric ones it equals |λ₂(W)|; on the "
                                  "one-way mixes it is larger than every eigenvalue modulus below 1 — a symmetric W "
                                  "is what makes the spectral gap a per-round guarantee."])


# ----------------------------------------------------------------------------- exercise 3: the best constant weight
def _weight_graphs():
    return [("a 7-device star", star(7)), ("a 6-device ring", ring(6)), ("a 5-device path", nx.path_graph(5)),
            ("a 4-device star with a tail", nx.Graph([(0, 1), (0, 2), (0, 3), (3, 4)])),
            ("a 3 × 4 grid", nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 4)))]


def _laplacian(G):
    A = nx.to_numpy_array(G, nodelist=range(G.number_of_nodes()))
    return A, np.diag(A.sum(axis=1)) - A


def _best_constant(G):
    A, L = _laplacian(G)
    mu = np.linalg.eigvalsh(L)  # ascending: 0 = μ_1 < μ_2 ≤ … ≤ μ_n for a connected graph
    return np.eye(len(A)) - 2 / (mu[1] + mu[-1]) * L


def _weight_mistakes(G):
    A, L = _laplacian(G)
    mu, eye, dmax = np.linalg.eigvalsh(L), np.eye(len(A)), A.sum(axis=1).max()
    alpha = 2 / (mu[1] + mu[-1])
    return [(alpha * A, "the diagonal is missing: W = I − αL puts 1 − α d_i on it, so that every row sums to 1"),
            (eye - L / (dmax + 1), "those are the max-degree weights α = 1/(d_max + 1): safe, but not the α that "
                                   "makes |λ₂(W)| smallest"),
            (eye - L / mu[-1], "α = 1/μ_max keeps every eigenvalue of W at or above 0; the best α balances the "
                               "largest and the most negative eigenvalue below 1 instead"),
            (eye - 2 / mu[-1] * L, "α = 2/μ_max puts an eigenvalue of W at −1 (|λ₂| = 1: no convergence); balance "
                                   "1 − αμ₂ against αμ_max − 1"),
            (eye - L / mu[1], "α = 1/μ₂ zeroes the slowest mode but lets the fastest one swing past −1; balance "
                              "1 − αμ₂ against αμ_max − 1"),
            (eye - 1 / (mu[1] + mu[-1]) * L, "that balances nothing: at the best α the two extreme eigenvalues of W "
                                             "are equal in modulus and opposite in sign")]


def check_best_constant_weights(student_fn) -> Feedback:
    """Exercise 3: ``student_fn(G) -> W = I − αL`` (numpy array) with the constant edge weight α that makes
    |λ₂(W)| smallest on the connected graph ``G``."""
    check = "Exercise 3: my_best_constant_weights"
    graphs = _weight_graphs()
    answers = [_best_constant(G) for _, G in graphs]
    mistakes = [_weight_mistakes(G) for _, G in graphs]
    with refuse_package(gossip.max_degree_weights, gossip.metropolis_weights, gossip.algebraic_connectivity,
                        why="build L and its eigenvalues with numpy yourself"):
        for (what, G), right, wrongs in zip(graphs, answers, mistakes):
            got, fb = call_student(check, student_fn, G.copy())
            if fb:
                return fb
            try:
                W = np.asarray(got.toarray() if hasattr(got, "toarray") else got, dtype=float)
            except (TypeError, ValueError):
                return Feedback(check, False, [f"{what}: return an n × n array of numbers, got {type(got).__name__}"])
            if W.shape != right.shape:
                return Feedback(check, False, [f"{what}: W must be {right.shape[0]} × {right.shape[0]} (one row and "
                                               f"column per device), got shape {W.shape}"])
            if np.allclose(W, right, atol=1e-9):
                continue
            for wrong, why in wrongs:
                if np.allclose(W, wrong, atol=1e-9):
                    return Feedback(check, False, [f"{what}: {why}."])
            return Feedback(check, False, [f"{what}: not the best constant weights; W = I − αL has eigenvalues "
                                           "1 − αμ_k for the Laplacian's μ_k: choose α to make the largest modulus "
                                           "below 1 as small as possible"])
    return Feedback(check, True, [f"right on all {len(graphs)} graphs. Now compare the gap with Metropolis' on the "
                                  "graphs of section 1."])


# ----------------------------------------------------------------------------- exercise 5: range for a speed
RANGE_CASES = [  # (what it is, ranges, gaps, eps, max_rounds)
    ("a sweep whose gap dips", [0.2, 0.3, 0.4, 0.5], [0.0, 0.1, 0.05, 0.2], 0.01, 50),
    ("a sweep with a gap just fast enough", [0.1, 0.2, 0.3, 0.4], [0.0, 0.05, 0.09, 0.2], 0.01, 50),
    ("a sweep whose bound lands between two whole rounds", [0.1, 0.2, 0.3], [0.03, 0.087, 0.1], 0.01, 50),
    ("a sweep that never gets there", [0.1, 0.2, 0.3], [0.0, 0.001, 0.002], 0.001, 20),
    ("a sweep fast from the start", [0.3, 0.4], [0.5, 0.6], 0.01, 50),
]


def _range_answer(ranges, gaps, eps, max_rounds, rounds):
    ok = [r for r, g in zip(ranges, gaps) if g > 0 and rounds(g) <= max_rounds]
    return ok[0] if ok else None


def check_smallest_range(student_fn) -> Feedback:
    """Exercise 5: ``student_fn(ranges, gaps, eps, max_rounds) -> range`` — the smallest range whose gap
    guarantees error ``eps`` within ``max_rounds`` synchronous rounds (``None`` if none does)."""
    check = "Exercise 5: smallest_range"
    for what, ranges, gaps, eps, m in RANGE_CASES:
        got, fb = call_student(check, student_fn, list(ranges), list(gaps), eps, m)
        if fb:
            return fb
        right = _range_answer(ranges, gaps, eps, m, lambda g: gossip.predicted_rounds(g, eps, whole=True))
        if got is None or right is None:
            if got is right:
                continue
            return Feedback(check, False, [f"{what}: you returned {got!r}; " + (
                "no range of this sweep reaches ε in time: return None" if right is None else
                "one range of this sweep does reach ε in time")])
        got, fb = read_number(check, got, f"smallest_range for {what}")
        if fb:
            return fb
        if got == right:
            continue
        wrongs = [(_range_answer(ranges, gaps, eps, m, lambda g: math.log(1 / eps) / g),
                   "log(1/ε)/gap overestimates the rounds; use the bound log(1/ε)/log(1/|λ₂|)"),
                  (_range_answer(ranges, gaps, eps, m, lambda g: math.floor(math.log(1 / eps) / math.log(1 / (1 - g)))),
                   "rounding the bound down counts a round too few: ⌈t⌉ rounds are needed"),
                  (max((r for r, g in zip(ranges, gaps) if g > 0 and gossip.predicted_rounds(g, eps, whole=True) <= m),
                       default=None), "that is the largest range that works; the exercise asks for the smallest")]
        for wrong, why in wrongs:
            if wrong is not None and got == wrong:
                return Feedback(check, False, [f"{what}: you returned {got:g}; {why}."])
        if got not in ranges:
            return Feedback(check, False, [f"{what}: you returned {got:g}, which is not one of the ranges swept; "
                                           "return the range itself (not its index or its gap)"])
        return Feedback(check, False, [f"{what}: you returned {got:g}; return the first range whose whole rounds "
                                       "⌈log(1/ε)/log(1/|λ₂|)⌉ are at most max_rounds"])
    return Feedback(check, True, [f"right in all {len(RANGE_CASES)} sweeps. Apply it to section 3's sweep."])
