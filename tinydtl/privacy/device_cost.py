"""What secure aggregation costs one microcontroller: extra RAM, bytes on air, air time.

A client of :mod:`tinydtl.privacy.secagg` with ``k`` neighbours (``k = n − 1`` in SecAgg, a fixed
``k`` in SecAgg+) holds, on top of plain FedAvg:

=====================  =================================================================================
component              bytes
=====================  =================================================================================
own keys               two X25519 key pairs: 2 × (32 + 32)
peers' public keys     ``k`` × 2 × 32 (mask key and share key of each neighbour) and their ids (uint32)
shares held            ``k`` encrypted share pairs (``SHARE_CIPHERTEXT_BYTES`` each, with sender and
                       recipient ids) and its own share pair, kept until the unmasking step
self-mask seed         32
integer vector         the masked update ``y_u``, ``n_params`` × uint32 (the float update stays too)
mask generator         one ChaCha20 state and one 64-byte keystream block: masks are added block by
                       block, never stored whole
Shamir work            the ``t − 1`` random coefficients of each chunk (32 chunks × uint32)
=====================  =================================================================================

and sends/receives, per round without dropouts, what :func:`tinydtl.privacy.secagg.secure_aggregate`
counts for it (the tests compare the two): public keys, ``k`` encrypted shares each way, the
``n_params`` × uint32 masked vector, ``k + 1`` shares at unmasking. Plain FedAvg sends ``n_params``
float32 values up and receives the model.

The protocol runs after local training, in the round's exchange phase (:mod:`tinydtl.devices.memory`:
``peak = persistent + max(train, exchange)``), so the extra RAM joins the exchange phase. Every byte is
:func:`tinydtl.core.traffic.payload_bytes`; KiB and the usable share of SRAM come from
:data:`tinydtl.devices.assumptions.ASSUMPTIONS`, air time at the radios' bit rates listed there
(payload only: no headers, acknowledgements or retries, so a lower bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinydtl.core.traffic import payload_bytes
from tinydtl.core.validation import check_number
from tinydtl.devices.assumptions import ASSUMPTIONS, kib
from tinydtl.devices.boards import as_board
from tinydtl.devices.memory import mlp_layers, profile
from tinydtl.privacy.crypto import KEY_BYTES
from tinydtl.privacy.secagg import SHARE_CHUNKS, SHARE_CIPHERTEXT_BYTES

__all__ = ["ClientCost", "client_cost", "cost_table", "secagg_plus_degree"]


@dataclass(frozen=True)
class ClientCost:
    """One client's extra RAM (by component) and its bytes per round for a protocol."""

    scheme: str
    clients: int
    degree: int
    threshold: int
    ram: dict
    bytes_up: int
    bytes_down: int

    @property
    def extra_ram(self) -> int:
        return int(sum(self.ram.values()))

    def air_seconds(self, radio: str) -> float:
        """Time on air of this round's bytes (both directions) at ``radio``'s bit rate."""
        return 8 * (self.bytes_up + self.bytes_down) / ASSUMPTIONS.bitrate_bps(radio)


def secagg_plus_degree(n: int) -> int:
    """SecAgg+'s neighbours for ``n >= 3`` clients: ``2⌈log₂ n⌉``, capped at the largest even number ``<= n − 1``.

    An **illustrative** constant: Bell et al. 2020 prove that ``k = O(log n)`` suffices and fix ``k`` from the
    security and dropout parameters (their abstract: 3 % of 10⁴ clients, i.e. 300 neighbours, in the
    semi-malicious setting with 5 % corrupt clients and 5 % dropouts). Lesson 11 shows where the cost stops
    fitting a board."""
    check_number("n", n, low=3, integer=True)
    return min(2 * math.ceil(math.log2(n)), (n - 1) // 2 * 2)


def client_cost(n_params: int, n_clients: int, neighbours=None, threshold=None) -> ClientCost:
    """Extra RAM and the round's bytes of one SecAgg (``neighbours=None``) or SecAgg+ client, or of
    plain FedAvg (``neighbours=0``: the float update up). ``bytes_down`` includes the model's download
    (``n_params`` float32), which every scheme has; ``threshold`` defaults to a majority of the
    ``k + 1`` holders of each secret."""
    check_number("n_params", n_params, low=1, integer=True)
    check_number("n_clients", n_clients, low=2, integer=True)
    model = payload_bytes(n_params)
    if neighbours == 0:
        return ClientCost("FedAvg", n_clients, 0, 0, {}, model, model)
    k = n_clients - 1 if neighbours is None else neighbours
    check_number("neighbours", k, low=1, high=n_clients - 1, integer=True)
    t = (k + 1) // 2 + 1 if threshold is None else threshold
    check_number("threshold", t, low=1, high=k + 1, integer=True)
    pair = payload_bytes(2 * KEY_BYTES, "uint8")
    held = SHARE_CIPHERTEXT_BYTES + payload_bytes(2, "uint32")
    ram = {
        "own keys": 2 * pair,
        "peers' public keys": k * pair + payload_bytes(k, "uint32"),
        "shares held": k * held + payload_bytes(2 * SHARE_CHUNKS, "uint32"),
        "self-mask seed": payload_bytes(KEY_BYTES, "uint8"),
        "integer vector": payload_bytes(n_params, "uint32"),
        "mask generator": payload_bytes(16 + 64, "uint8"),  # ChaCha20: 16-word state, 64-byte block
        "Shamir work": payload_bytes((t - 1) * 2 * SHARE_CHUNKS, "uint32"),
    }
    up = pair + k * held + payload_bytes(n_params, "uint32") + payload_bytes((k + 1) * (SHARE_CHUNKS + 1), "uint32")
    down = k * pair + payload_bytes(k, "uint32") + k * held + payload_bytes(k + 1, "uint32") + model
    name = "SecAgg" if neighbours is None else "SecAgg+"
    return ClientCost(name, n_clients, k, t, ram, up, down)


def cost_table(sizes=(784, 10), clients=(10, 100, 1000, 10000), boards=("Arduino Nano 33 BLE Sense",),
               batch_size: int = 20):
    """FedAvg, SecAgg and SecAgg+ per client as ``n`` grows, as a DataFrame: neighbours, extra RAM
    (KiB), bytes up and down (KiB, the model download included), air time per radio (s) and, per board,
    whether a training round of the dense model ``sizes`` (default: the survey's softmax learner)
    plus the protocol fits the board's usable SRAM."""
    import pandas as pd

    check_number("batch_size", batch_size, low=1, integer=True)
    boards = [as_board(b) for b in boards]
    layers = mlp_layers(sizes)
    n_params = sum(layer.weights + layer.biases for layer in layers)
    phases = profile(layers, training=True, batch_size=batch_size).phases()
    rows = []
    for n in clients:
        check_number("clients", n, low=3, integer=True)
        for k in (0, None, secagg_plus_degree(n)):
            c = client_cost(n_params, n, k)
            row = {"scheme": c.scheme, "clients": n, "neighbours": c.degree, "extra RAM (KiB)": kib(c.extra_ram),
                   "up (KiB)": kib(c.bytes_up), "down (KiB)": kib(c.bytes_down)}
            for r in ASSUMPTIONS.radios:
                row[f"air time {r.name} (s)"] = c.air_seconds(r.name)
            peak = phases["persistent"] + max(phases["train"], phases["exchange"] + c.extra_ram)
            row["peak SRAM (KiB)"] = kib(peak)
            for b in boards:
                row[f"fits {b.name}"] = peak <= ASSUMPTIONS.usable_sram_bytes(b.sram_bytes)
            rows.append(row)
    return pd.DataFrame(rows)
