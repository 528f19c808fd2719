"""The one byte rule of the package: what a payload costs, and a round's traffic.

A *transmission* is one payload from one sender to one receiver over one radio link. Its cost is the
payload bytes (``n_values × itemsize`` of the dtype the payload is sent in; compressed sizes where an
update is compressed); headers, acknowledgements and retransmissions are not counted. **A broadcast
to k neighbours counts k transmissions** (k × payload bytes): links are modelled as unicast, which
keeps gossip, a server's download to K clients and a head's share-back on the same footing. A model
relayed over h hops costs h transmissions.

Directions in a :class:`~tinydtl.core.history.History`: ``bytes_up`` is what devices send (to a
server, a cluster head, their neighbours, relays included); ``bytes_down`` what servers and heads
send back to devices. Every module that counts bytes or sizes memory calls :func:`payload_bytes`
(or :func:`dtype_bytes`); nothing else multiplies by 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydtl.core.validation import check_number

__all__ = ["FLOAT32_BYTES", "Traffic", "dtype_bytes", "payload_bytes", "star_traffic"]

FLOAT32_BYTES = 4  # the one definition in the package: np.dtype(np.float32).itemsize


def dtype_bytes(dtype="float32") -> int:
    """Bytes of one value of ``dtype`` (a numpy dtype or its name: ``"float32"``, ``"float64"``, ``"int8"``, ...)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a numpy dtype or its name (e.g. 'float32', 'int8'), got {dtype!r}") from None
    if dt.kind not in "biuf":
        raise ValueError(f"dtype must be a numeric dtype (bool, int, uint or float), got {dt}")
    return int(dt.itemsize)


def payload_bytes(n_values: int, dtype="float32") -> int:
    """Bytes of one uncompressed payload of ``n_values`` numbers of ``dtype`` (float32 by default)."""
    check_number("n_values", n_values, low=0, integer=True)
    return int(n_values) * dtype_bytes(dtype)


@dataclass(frozen=True)
class Traffic:
    """Transmissions and payload bytes of (part of) a round; add them with ``+``."""

    bytes_up: int = 0
    bytes_down: int = 0
    messages: int = 0

    def __post_init__(self):
        for name in ("bytes_up", "bytes_down", "messages"):
            check_number(name, getattr(self, name), low=0, integer=True)

    def __add__(self, other: "Traffic") -> "Traffic":
        return Traffic(self.bytes_up + other.bytes_up, self.bytes_down + other.bytes_down, self.messages + other.messages)

    def as_row(self) -> dict:
        return {"bytes_up": int(self.bytes_up), "bytes_down": int(self.bytes_down), "messages": int(self.messages)}


def star_traffic(up_bytes_per_client, down_payload: int) -> Traffic:
    """A server round: each participant uploads its (possibly compressed) update, the server sends the
    model to each participant (K transmissions, the broadcast rule)."""
    up = np.asarray(up_bytes_per_client)
    if up.ndim != 1 or (up.size and (not np.issubdtype(up.dtype, np.integer) or up.min() < 0)):
        raise ValueError("up_bytes_per_client must be a 1-D sequence of integers >= 0 (bytes each client sent)")
    check_number("down_payload", down_payload, low=0, integer=True)
    up = up.astype(np.int64)
    return Traffic(int(up.sum()), int(down_payload) * len(up), 2 * len(up))
