"""The reference MiniRocket accuracies that lesson 08 holds tinydtl's MiniRocket against.

aeon 1.6's MiniRocket (Dempster, Schmidt & Webb, "MINIROCKET: A Very Fast (Almost) Deterministic
Transform for Time Series Classification", KDD 2021; aeon is the maintained reference implementation)
cannot be installed next to this package: it needs NumPy 2, and TensorFlow Federated pins NumPy < 2.
``benchmarks/bench_rocket.py`` therefore runs it in a side environment (``build/aeon-venv``) and puts
both feature sets through the same ``StandardScaler`` + ``RidgeClassifierCV(alphas=logspace(-3, 3, 10))``
on each UCR set's own train/test split. The test accuracies below are aeon's, the mean of seeds 0, 1
and 2, measured once with that script (``uv run python benchmarks/bench_rocket.py --seeds 3``) and kept
here as data: rerun the script to check them.
"""

from __future__ import annotations

__all__ = ["AEON_MINIROCKET_RIDGE", "AEON_PROVENANCE"]

#: aeon 1.6 MiniRocket + standardised ridge, test accuracy on the archive's split, mean of seeds 0–2.
AEON_MINIROCKET_RIDGE = {"GunPoint": 0.993, "ItalyPowerDemand": 0.965, "ArrowHead": 0.857, "OSULeaf": 0.955}

#: Where :data:`AEON_MINIROCKET_RIDGE` comes from, in one line (for tables and claim notes).
AEON_PROVENANCE = ("aeon 1.6 MiniRocket + the same standardised RidgeClassifierCV, mean of seeds 0-2, measured "
                   "with benchmarks/bench_rocket.py in a side environment (aeon needs NumPy 2)")
