"""Lesson 07's exercise checks (tinydtl.lab.exercises.l07_adaptive_tau): the reference solution passes, the stub
gets feedback, the common wrong answers get their own message, and the package's controller is refused."""

import numpy as np
import pytest

import tinydtl.papers.adaptive_tau as ad
from tinydtl.lab.exercises import Feedback
from tinydtl.lab.exercises.l07_adaptive_tau import (
    BUDGET_CASES,
    TAU_CASES,
    check_budget_buys,
    check_energy_binds,
    check_tau_star,
    reference_tau_star,
)


def text(feedback: Feedback) -> str:
    assert isinstance(feedback, Feedback)
    return " ".join(feedback.messages)


def stub(*args, **kwargs):
    raise NotImplementedError


# ------------------------------------------------------------------------------------------ budget_buys
def budget_buys(tau, c, b, R):
    K = int(min(np.floor(np.asarray(R) / (np.asarray(c) * tau + np.asarray(b)))))
    return K * tau, K


def per_resource(tau, c, b, R):
    return np.asarray(R) / (np.asarray(c) * tau + np.asarray(b))


def test_budget_buys_reference_passes_and_stub_gets_feedback():
    assert check_budget_buys(budget_buys).passed
    fb = check_budget_buys(stub)
    assert not fb.passed and "not implemented yet" in text(fb)


@pytest.mark.parametrize("wrong, message", [
    (lambda tau, c, b, R: budget_buys(tau, c, b, R)[::-1], "swapped"),
    (lambda tau, c, b, R: (per_resource(tau, c, b, R).min() * tau, per_resource(tau, c, b, R).min()), "whole number"),
    (lambda tau, c, b, R: (np.ceil(per_resource(tau, c, b, R).min()) * tau, np.ceil(per_resource(tau, c, b, R).min())),
     "rounded up"),
    (lambda tau, c, b, R: (np.floor(per_resource(tau, c, b, R).max()) * tau, np.floor(per_resource(tau, c, b, R).max())),
     "FIRST resource"),
    (lambda tau, c, b, R: (np.floor(per_resource(tau, c, b, R)[0]) * tau, np.floor(per_resource(tau, c, b, R)[0])),
     "only the first resource"),
    (lambda tau, c, b, R: (np.floor(sum(R) / sum(per_resource(tau, c, b, R) * 0 + np.asarray(c) * tau + b)) * tau,
                           np.floor(sum(R) / sum(np.asarray(c) * tau + b))), "added the resources"),
    (lambda tau, c, b, R: budget_buys(tau, c, b, R)[0], "two finite numbers"),
    (lambda tau, c, b, R: ("many", "few"), "two finite numbers"),
    (lambda tau, c, b, R: (float("nan"), 1.0), "two finite numbers"),
    (lambda tau, c, b, R: (1.0, 2.0), "is not what the budget buys"),
    (lambda tau, c, b, R: 1 / 0, "ZeroDivisionError"),
])
def test_budget_buys_names_the_mistake(wrong, message):
    fb = check_budget_buys(wrong)
    assert not fb.passed and message in text(fb), text(fb)


def test_budget_buys_refuses_the_package():
    def via_package(tau, c, b, R):
        T = ad.rounds_allowed(tau, c=c[0], b=b[0], budget=R[0], use_min_loss=False)
        return T, T // tau

    fb = check_budget_buys(via_package)
    assert not fb.passed and "tinydtl's own" in text(fb)
    assert ad.rounds_allowed(10, c=0.013, b=0.1316, budget=15.0, use_min_loss=False) > 0  # restored afterwards


def test_budget_buys_is_not_a_function():
    assert "give a function" in text(check_budget_buys(42))
    assert len(BUDGET_CASES) >= 4


# --------------------------------------------------------------------------------------------- tau_star
def tau_star(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100):
    taus = np.arange(1, 10 * tau_prev + 1)
    T = (R - c - b) * taus / (c * taus + b)
    h = np.maximum(0.0, delta / beta * ((eta * beta + 1.0) ** taus - 1.0) - eta * delta * taus)
    G = (1 + np.sqrt(np.maximum(0, 1 + 4 * T**2 * phi * rho * eta * h / taus))) / (2 * T * eta * phi) + rho * h
    return min(int(taus[np.argmin(G)]), tau_max)


def test_reference_tau_star_is_the_package_controller_on_every_case():
    for _, kw in TAU_CASES:
        true = ad.optimal_tau(kw["beta"], kw["delta"], kw["rho"], kw["eta"], kw["phi"], kw["c"], kw["b"], kw["R"],
                              kw["tau_prev"])
        assert reference_tau_star(**kw) == tau_star(**kw) == true


def test_tau_star_reference_passes_and_stub_gets_feedback():
    fb = check_tau_star(tau_star)
    assert fb.passed, text(fb)
    assert "33" not in text(fb) and "50" not in text(fb)  # the predictions' answers are not handed out
    assert "not implemented yet" in text(check_tau_star(stub))


def variant(**flags):
    return lambda beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100: reference_tau_star(
        beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max, **flags)


@pytest.mark.parametrize("wrong, message", [
    (variant(index=True), "index + 1"),
    (variant(window=False), "10·τ_prev"),
    (variant(cap=False), "capped at tau_max"),
    (variant(steps=False), "counts aggregations"),
    (variant(holdback=False), "R − c − b"),
    (lambda *a, **k: float(tau_star(*a, **k)) + 0.5, "whole number"),
    (lambda *a, **k: "33", "whole number"),
    (lambda *a, **k: 7, "not the controller's choice"),
    (lambda *a: 7, "TypeError"),  # forgot tau_max: the check calls by keyword
])
def test_tau_star_names_the_mistake(wrong, message):
    fb = check_tau_star(wrong)
    assert not fb.passed and message in text(fb), text(fb)


def test_tau_star_accepts_numpy_integers_and_whole_floats():
    assert check_tau_star(lambda *a, **k: np.int64(tau_star(*a, **k))).passed
    assert check_tau_star(lambda *a, **k: float(tau_star(*a, **k))).passed


def test_tau_star_refuses_the_package_however_imported():
    from tinydtl.papers.adaptive_tau.bound import optimal_tau

    def via_package(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100):
        return optimal_tau(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=tau_max)

    def via_g(beta, delta, rho, eta, phi, c, b, R, tau_prev, tau_max=100):
        G = [ad.objective_G(t, beta=beta, delta=delta, rho=rho, eta=eta, phi=phi, c=c, b=b, budget=R)
             for t in range(1, 10 * tau_prev + 1)]
        return min(1 + int(np.argmin(G)), tau_max)

    for cheat in (via_package, via_g):
        fb = check_tau_star(cheat)
        assert not fb.passed and "tinydtl's own" in text(fb), text(fb)
    assert ad.optimal_tau(5.0, 0.5, 0.1, 0.01, 0.025, 0.013, 0.1316, 15.0, 10) == 33  # restored afterwards


# ------------------------------------------------------------------------------------------ energy binds
def two(energy_budget):
    return ad.CostModel(step_mean=(0.013, 0.01), step_std=(0.0069, 0.0), aggregation_mean=(0.1316, 0.05),
                        aggregation_std=(0.0539, 0.0), budget=(15.0, energy_budget), names=("time [s]", "energy [J]"))


def test_energy_check_measures_which_resource_stops_training():
    fb = check_energy_binds(two(1.0))  # 1 J buys a few dozen steps: energy stops training long before 15 s
    assert fb.passed, text(fb)
    assert "time ran out" in text(check_energy_binds(two(1000.0)))  # plenty of energy: time binds


@pytest.mark.parametrize("answer, message", [
    (None, "not answered yet"),
    ((15.0, 1.0), "ad.CostModel"),
    (ad.CostModel(), "one resource only"),
])
def test_energy_check_names_the_mistake(answer, message):
    fb = check_energy_binds(answer)
    assert not fb.passed and message in text(fb)
