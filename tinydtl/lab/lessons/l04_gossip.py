"""Lesson 04 (gossip and the spectral gap): the numbers its appendix checks the package against.

Kept out of the notebook on purpose: the ring's closed form is what exercise 1 asks the student to derive.
"""

from __future__ import annotations

import math

from tinydtl.core.validation import check_int

__all__ = ["ring_gap_closed_form"]


def ring_gap_closed_form(n: int) -> float:
    """Spectral gap of the Metropolis ring of ``n >= 3`` devices from its eigenvalues in closed form.

    Every device has two neighbours, so every link weighs 1/3 and ``W = I − L/3``; the ring's Laplacian
    ``L`` has the eigenvalues ``2 − 2cos(2πk/n)``, ``k = 0 … n − 1``, so ``W``'s are
    ``(1 + 2cos(2πk/n))/3`` and the gap is ``1 − max_{k ≥ 1} |(1 + 2cos(2πk/n))/3|``.
    """
    check_int("n", n, 3)
    return 1 - max(abs((1 + 2 * math.cos(2 * math.pi * k / n)) / 3) for k in range(1, n))
