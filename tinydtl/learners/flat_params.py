"""Parameters as one flat float32 row: the layout every dense learner shares, written once.

A model's parameters are the arrays of its ``shapes`` one after another, each in C order, weights
then bias per layer: ``[W1, b1, W2, b2, …]``. One flat row per device is what gossip and aggregation
move and average (``core.aggregation``), and a stack of rows ``(K, n_params)`` is K devices at once;
:meth:`FlatParameters.unflatten` gives views of either, leading axes kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FlatParameters", "dense_shapes"]


def dense_shapes(sizes) -> list[tuple[int, ...]]:
    """``[(n0, n1), (n1,), (n1, n2), (n2,), …]``: weight and bias shapes of dense layers ``n0 → n1 → …``."""
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        out += [(a, b), (b,)]
    return out


class FlatParameters:
    """Base of a model whose parameters are one flat float32 row laid out by ``self.shapes``.

    A subclass defines the property ``shapes`` (a list of array shapes) and may set ``params_rule``,
    the formula of ``n_params`` that a wrong shape's error message quotes.
    """

    params_rule = ""

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes)

    def nbytes(self) -> int:
        """Bytes of one row of parameters (float32)."""
        return self.n_params * np.dtype(np.float32).itemsize

    def flatten(self, *arrays) -> np.ndarray:
        """One flat float32 row from the arrays of ``shapes``, in order."""
        if len(arrays) != len(self.shapes):
            raise ValueError(f"flatten needs {len(self.shapes)} arrays (W1, b1, ...), got {len(arrays)}")
        return np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays])

    def unflatten(self, params):
        """Views of the arrays of ``shapes`` in a flat row, or in a stack of rows (leading axes kept)."""
        params = np.asarray(params)
        lead, out, start = params.shape[:-1], [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            out.append(params[..., start : start + size].reshape(lead + tuple(shape)))
            start += size
        return tuple(out)

    def arrays(self, params) -> list[np.ndarray]:
        """The arrays a device holds for this model (memory accounting)."""
        return list(self.unflatten(params))

    def check_params(self, params, rows=None) -> None:
        """``ValueError`` unless ``params`` is one row (``rows=None``) or ``rows`` rows of ``n_params``."""
        want = (self.n_params,) if rows is None else (rows, self.n_params)
        if np.shape(params) != want:
            rule = f" ({self.params_rule})" if self.params_rule else ""
            raise ValueError(f"params must have shape {want}{rule}, got {np.shape(params)}")
