"""The messages the aggregator and the edge nodes exchange over TCP, and the sizes a reader accepts.

A message is an 8-byte frame (two big-endian unsigned 32-bit lengths: the header's and the payload's),
a JSON header ``{"type": ..., "fields": {...}, "arrays": {name: [dtype, shape]}}`` and the arrays' raw
bytes, in the header's order. The protocol of the real mode (:mod:`tinydtl.papers.adaptive_tau.edge_network`):

========  ==========================  =====================================================
message   direction                   content
========  ==========================  =====================================================
hello     node → aggregator           the run's token (a connection without it is dropped)
init      aggregator → node           the node's data ``X``, ``y`` and ``eta, lam, delay, seed``
round     aggregator → node           the global model ``w`` and ``tau, batch_size, round``
report    node → aggregator           ``w``, ``grad_at_global`` and the node's scalars
stop      aggregator → node           nothing: the node exits
========  ==========================  =====================================================

A reader never trusts the lengths it is sent: the frame is checked against a limit *before* anything
is allocated (the header against :data:`MAX_HEADER_BYTES`, the payload against a bound the caller
derives from the model size), and the header's arrays must be numeric and add up to the payload
exactly. Anything else raises :class:`ProtocolError` naming what was announced and what is allowed.
"""

from __future__ import annotations

import json
import math
import socket
import struct

import numpy as np

__all__ = ["MAX_HEADER_BYTES", "Link", "ProtocolError", "encode_message", "read_message", "recv_message",
           "send_message"]

#: largest JSON header a reader accepts (the protocol's headers are a few hundred bytes)
MAX_HEADER_BYTES = 16 * 1024
#: payload bound of :func:`recv_message` when the caller gives none (64 MiB)
DEFAULT_MAX_PAYLOAD = 1 << 26
FRAME = struct.Struct(">II")


class ProtocolError(ConnectionError):
    """A peer sent something the protocol does not allow (too large, malformed, unexpected)."""


def encode_message(kind: str, arrays=None, **fields) -> bytes:
    """One message as bytes: frame, JSON header, then the arrays' raw bytes."""
    arrays = {k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()}
    header = {"type": kind, "fields": fields,
              "arrays": {k: [str(v.dtype), list(v.shape)] for k, v in arrays.items()}}
    head = json.dumps(header).encode()
    payload = b"".join(v.tobytes() for v in arrays.values())
    return FRAME.pack(len(head), len(payload)) + head + payload


def send_message(sock: socket.socket, kind: str, arrays=None, **fields) -> int:
    """Send one message; returns its size in bytes (frame, header and payload)."""
    data = encode_message(kind, arrays, **fields)
    sock.sendall(data)
    return len(data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 22))
        if not chunk:
            raise ConnectionError("the peer closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _array_specs(header, n_payload: int):
    """``[(name, dtype, shape, n_bytes)]`` from a header, checked: numeric dtypes, sizes adding up to the payload."""
    if not (isinstance(header, dict) and isinstance(header.get("type"), str)
            and isinstance(header.get("fields"), dict) and isinstance(header.get("arrays"), dict)):
        raise ProtocolError("a message header must hold 'type' (a string), 'fields' and 'arrays' (objects)")
    specs, total = [], 0
    for name, spec in header["arrays"].items():
        try:
            dtype, shape = np.dtype(spec[0]), tuple(spec[1])
        except (TypeError, ValueError, IndexError, KeyError):
            raise ProtocolError(f"array {name!r}: expected [dtype, shape], got {spec!r}") from None
        if dtype.kind not in "biuf" or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ProtocolError(f"array {name!r}: a numeric dtype and a shape of integers >= 0 are allowed, got {spec!r}")
        n_bytes = math.prod(shape) * dtype.itemsize
        specs.append((name, dtype, shape, n_bytes))
        total += n_bytes
    if total != n_payload:
        raise ProtocolError(f"the header's arrays hold {total} bytes but the frame announced {n_payload}")
    return specs


def read_message(sock: socket.socket, expect: str | None = None, *, max_payload: int,
                 max_header: int = MAX_HEADER_BYTES):
    """Receive one message: ``(type, fields, arrays, n_bytes)``, ``n_bytes`` counting frame, header and payload.

    Raises :class:`ProtocolError` when the frame announces a header over ``max_header`` or a payload
    over ``max_payload`` bytes (checked before reading or allocating them), when the header is malformed,
    and when ``expect`` is given and the message's type differs.
    """
    n_head, n_payload = FRAME.unpack(_recv_exact(sock, FRAME.size))
    if n_head > max_header:
        raise ProtocolError(f"a message announced a {n_head}-byte header; at most {max_header} bytes are allowed")
    if n_payload > max_payload:
        raise ProtocolError(f"a message announced a {n_payload}-byte payload; at most {max_payload} bytes are "
                            f"allowed here (derived from the model and data sizes)")
    try:
        header = json.loads(_recv_exact(sock, n_head))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ProtocolError("a message header is not valid JSON") from None
    specs = _array_specs(header, n_payload)
    if expect is not None and header["type"] != expect:
        raise ProtocolError(f"expected a {expect!r} message, got {header['type']!r}")
    payload = memoryview(_recv_exact(sock, n_payload))
    arrays, offset = {}, 0
    for name, dtype, shape, n_bytes in specs:
        arrays[name] = np.frombuffer(payload[offset : offset + n_bytes], dtype=dtype).reshape(shape).copy()
        offset += n_bytes
    return header["type"], header["fields"], arrays, FRAME.size + n_head + n_payload


def recv_message(sock: socket.socket, expect: str | None = None, *, max_payload: int = DEFAULT_MAX_PAYLOAD):
    """Receive one message: ``(type, fields, arrays)`` (:func:`read_message` without the byte count)."""
    kind, fields, arrays, _ = read_message(sock, expect, max_payload=max_payload)
    return kind, fields, arrays


class Link:
    """One connection of the protocol that counts the bytes it moves (whole messages, as on the socket).

    ``max_payload`` bounds every message read from the peer (:func:`read_message`).
    """

    def __init__(self, sock: socket.socket, *, max_payload: int):
        self.sock, self.max_payload = sock, int(max_payload)
        self.bytes_sent = self.bytes_received = 0

    def send(self, kind: str, arrays=None, **fields) -> int:
        n = send_message(self.sock, kind, arrays, **fields)
        self.bytes_sent += n
        return n

    def recv(self, expect: str | None = None):
        kind, fields, arrays, n = read_message(self.sock, expect, max_payload=self.max_payload)
        self.bytes_received += n
        return kind, fields, arrays

    def close(self) -> None:
        self.sock.close()
