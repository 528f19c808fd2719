"""Lesson 05's rules, fixed before the run, and the small formatting they share: the band around the paper's
"~1.8 extra rounds", when a miss is an honest negative, what differs from the paper, and how round counts,
"never reached" and ratios are printed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXTRA_BAND_REASON", "PAPER", "PAPER_EXTRA_ROUNDS", "differs", "extra", "mean_se", "number_text", "relative_loss",
           "rounds_list", "rounds_text", "shown", "times", "why_not_paper"]

PAPER = "Bilayer gossip GD-PSGD (arXiv 2501.04817)"
PAPER_EXTRA_ROUNDS = 1.8
EXTRA_BAND_REASON = ("the paper's '~1.8' extra rounds is an average (not a whole number); ours is the mean over seeds "
                     "of whole rounds, so a mean of 0.8 to 2.8 extra rounds (1.8 ± 1) reproduces it, less is faster "
                     "than the paper, more is slower")


def differs(head: str) -> str:
    """What differs between the paper's experiment and the lesson's (for a reproduction claim)."""
    return (f"MNIST instead of CIFAR-10; {head} instead of a classifier head on a frozen MCUNet backbone; simulated "
            "unit-disc radio in a 100 m field (no losses, collisions or fading); criterion: rounds to a fixed accuracy "
            "target of the devices' own models")


def extra(r_a, r_b):
    """``r_a - r_b``, or None (never reached) when either is None."""
    return None if r_a is None or r_b is None else r_a - r_b


def mean_se(values):
    """Mean and standard error (``None`` below two values) of per-seed numbers; ``(None, None)`` if any seed
    never reached the target."""
    if any(v is None or not np.isfinite(v) for v in values):
        return None, None
    v = np.asarray(values, float)
    return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None)


def relative_loss(cfl_acc, acc):
    """Accuracy loss against CFL in per cent of CFL's accuracy."""
    return 100 * (cfl_acc - acc) / cfl_acc


def rounds_text(r):
    """A round count as text: '6', or 'never reached' (None or NaN)."""
    return "never reached" if r is None or (isinstance(r, float) and np.isnan(r)) else f"{int(r)}"


def number_text(v):
    """A mean count as text: '1.67', or 'never reached' (None or NaN)."""
    return "never reached" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3g}"


def _count_text(v):
    whole = v is None or (isinstance(v, float) and np.isnan(v)) or float(v) == int(v)
    return rounds_text(v) if whole else number_text(float(v))


def rounds_list(values):
    """Per-seed round counts (or extra rounds) as text, e.g. '0, 1, never reached'."""
    return ", ".join(rounds_text(v) for v in values)


def shown(df):
    """``df`` for display: round and message counts as whole numbers, means over seeds (not whole) to 3 significant
    figures, 'never reached' where the target was not."""
    out = df.copy()
    for c in out.columns:
        if "rounds" in str(c) or c == "messages":
            out[c] = [v if isinstance(v, str) else _count_text(v) for v in out[c]]
    return out


def times(a, b):
    """``a / b`` as text ('4.2×'), or 'n/a' when either never reached the target (None or NaN)."""
    bad = [v is None or (isinstance(v, float) and np.isnan(v)) for v in (a, b)]
    return "n/a (target never reached)" if any(bad) or not b else f"{a / b:.1f}×"


def why_not_paper(mean_extra, band, *, without=None, setting=None):
    """The rule, fixed before the run, for a miss of the paper's ~1.8 extra rounds (``1.8 ± band``).

    * within the band: no reason (the claim is met);
    * faster (below the band): an honest negative — the paper's extra rounds do not appear here;
    * slower or never reached: an honest negative **only** when one of the authors' settings accounts for
      it — ``without``, the mean extra rounds of the configuration with that ``setting`` switched back, is
      inside or below the band; otherwise no reason (a plain NOT MET that fails the run).
    """
    lo, hi = PAPER_EXTRA_ROUNDS - band, PAPER_EXTRA_ROUNDS + band
    if mean_extra is not None and np.isfinite(mean_extra) and lo <= mean_extra <= hi:
        return ""
    if mean_extra is not None and np.isfinite(mean_extra) and mean_extra < lo:
        return "faster than the paper: the bilayer reaches the target about when CFL does, so the paper's extra rounds do not appear"
    if setting and without is not None and without <= hi:
        return (f"slower than the paper, and only because of one of the authors' settings, '{setting}': with it switched "
                f"back the configuration needs {without:.2g} extra rounds; how fast averaging recovers from it depends on "
                "the head and the features, which are not the authors' (MCUNet features of CIFAR-10)")
    return ""
