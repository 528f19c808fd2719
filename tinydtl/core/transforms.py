"""Update transforms: what happens to a client's update between its training and the aggregator.

A transform is called as ``transform(update, client) -> (update, nbytes)`` on one flat float32
update, in order; the last ``nbytes`` is what the client puts on the wire. The core applies them in
the order given (attack first, then compression, as a malicious device would still compress):

* :class:`Attackers` — the chosen clients replace their update by large random garbage (a Byzantine
  device; Blanchard et al. 2017 use the same Gaussian attack);
* :class:`Compression` — quantisation (``"q8"``, ...), top-k (``"top0.1"``) with optional error
  feedback (:class:`tinydtl.core.compression.Compressor`; Seide et al. 2014, Karimireddy et al. 2019).
"""

from __future__ import annotations

import numpy as np

from tinydtl.core.compression import Compressor
from tinydtl.core.traffic import payload_bytes
from tinydtl.core.validation import check_number, check_seed

__all__ = ["Attackers", "Compression", "apply_transforms"]


class Attackers:
    """Clients in ``ids`` send ``N(0, scale²)`` noise instead of their update (seeded)."""

    def __init__(self, ids, *, scale: float = 10.0, seed=0):
        check_number("scale", scale, low=0, low_open=True)
        check_seed("seed", seed)
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0):
            raise ValueError(f"ids must be integer client indices >= 0, got {ids.tolist()[:10]}")
        self.ids = {int(i) for i in ids}
        self.scale = float(scale)
        self.rng = np.random.default_rng([seed, 31337]) if not isinstance(seed, np.random.Generator) else seed

    def __call__(self, update, client):
        if int(client) in self.ids:
            update = self.rng.normal(0.0, self.scale, size=np.shape(update)).astype(np.float32)
        return update, payload_bytes(np.size(update))


class Compression:
    """A named compressor (``"none"``, ``"q<bits>"`` or ``"top<fraction>"``) with optional error feedback
    (:class:`tinydtl.core.compression.Compressor`, which owns every rule about the spec)."""

    def __init__(self, spec: str, *, error_feedback: bool = False, seed=0):
        self.compressor = Compressor(spec, error_feedback=error_feedback, seed=seed)

    def __call__(self, update, client):
        sent, nbytes = self.compressor(update, int(client))
        return sent, int(nbytes)


def apply_transforms(updates, clients, transforms):
    """Run every client's update through ``transforms``; returns ``(sent (K, n), bytes per client)``."""
    updates = np.asarray(updates, dtype=np.float32)
    if updates.ndim != 2 or len(updates) != len(clients):
        raise ValueError(f"updates must be a (clients, n) stack with one row per client ({len(clients)}), "
                         f"got shape {updates.shape}")
    sent = np.empty_like(updates)
    nbytes = np.full(len(updates), payload_bytes(updates.shape[1]), dtype=np.int64)
    for i, client in enumerate(clients):
        u = updates[i]
        for t in transforms:
            u, nb = t(u, client)
            nbytes[i] = nb
        sent[i] = u
    return sent, nbytes
