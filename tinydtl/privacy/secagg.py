"""Secure aggregation: the server learns the sum of the clients' updates and nothing else.

Bonawitz et al. 2017, "Practical Secure Aggregation for Privacy-Preserving Machine Learning" (the
protocol of their Fig. 4 against an honest-but-curious server), with the neighbour graph of Bell et
al. 2020, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead" (SecAgg+). Client ``u``
holds an update ``x_u`` (clipped to ``[-clip, clip]`` and stochastically rounded to integers in
``[0, levels]``: :func:`quantize`), and all arithmetic is modulo ``2³²``.

1. **Advertise keys.** ``u`` makes two X25519 key pairs, ``(c_u, C_u)`` to encrypt shares and
   ``(s_u, S_u)`` to agree masks, and sends the public halves; the server forwards each client its
   neighbours' (everyone's in SecAgg, ``k`` random ones in SecAgg+).
2. **Share keys.** ``u`` draws a self-mask seed ``b_u`` and splits ``b_u`` and ``s_u`` into
   ``t``-of-``k`` Shamir shares (:mod:`tinydtl.privacy.shamir`), one per neighbour and one for
   itself; each neighbour's pair is encrypted under the key ``u`` and ``v`` agree from ``c``/``C``
   (:mod:`tinydtl.privacy.crypto`) and relayed by the server, which cannot read it.
3. **Masked input.** ``u`` sends ``y_u = x_u + PRG(b_u) + Σ_{v∈N(u)} ±PRG(s_uv)`` (``+`` if ``u < v``,
   ``−`` otherwise; ``s_uv`` the key ``u`` and ``v`` agree from ``s``/``S``). Each ``y_u`` is uniformly
   distributed to the server. Clients in ``dropped`` fail here: they shared their keys but never send.
4. **Unmasking.** Each survivor returns, for every neighbour, its share of ``b`` if that neighbour
   survived and its share of ``s`` if it dropped — never both for one client. From ``t`` shares the
   server rebuilds the survivors' ``b`` (to remove their self-masks) and the dropped clients' ``s``
   (to recompute and remove their pairwise masks with survivors). The pairwise masks between
   survivors cancel in the sum, so ``Σ_{u∈U} y_u − Σ PRG(b_u) ± (dropped clients' masks) = Σ_{u∈U} x_u``
   exactly. With fewer than ``t`` surviving holders of some client's shares the round fails.

Why both masks: without ``b_u``, a client whose ``y_u`` arrived late after the server had already
asked for its ``s_u`` (believing it dropped) would be unmasked; with it, the server must hold both
``b_u`` and ``s_u`` to see ``x_u``, and honest clients never reveal both.

**SecAgg+** replaces the complete graph by a random ``k``-regular one (a circulant graph on a
random order of the clients, ``k/2`` neighbours on each side, as Flower builds it): each client
agrees ``k`` masks and stores ``k`` shares instead of ``n − 1``, so its cost grows with ``log n``
when ``k = O(log n)`` rather than with ``n`` (:mod:`tinydtl.privacy.device_cost`).

Where this differs from a production protocol (say it when teaching it): no authenticated channels or
signed keys (the active-adversary version needs a PKI and a consistency round), no protection
against a server that lies about who dropped, the client secrets are derived from ``seed`` for
reproducible lessons (``seed=None`` uses OS entropy for keys and seeds; Shamir coefficients and
rounding still come from numpy's PCG64, which is not a cryptographic generator), clients drop only
between sharing keys and sending their input, and the whole protocol runs in one process.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from tinydtl.core.traffic import Traffic, payload_bytes
from tinydtl.core.validation import check_finite_array, check_number, check_seed
from tinydtl.privacy import shamir
from tinydtl.privacy.crypto import KEY_BYTES, KeyPair, PairKeys, aead_open, aead_seal, agree, keypair, prg_uint32

__all__ = ["AEAD_TAG_BYTES", "MODULUS_BITS", "SHARE_CHUNKS", "SHARE_CIPHERTEXT_BYTES", "SecAggResult", "dequantize", "neighbour_graph", "quantize", "secure_aggregate"]

MODULUS_BITS = 32  # all sums modulo 2^32 (uint32 arithmetic wraps)
SHARE_CHUNKS = KEY_BYTES // 2  # a 32-byte secret is 16 field elements per share
AEAD_TAG_BYTES = 16  # AES-GCM's authentication tag
#: bytes of one encrypted share pair (b and s, 2 × 16 field elements as uint32, plus the tag)
SHARE_CIPHERTEXT_BYTES = payload_bytes(2 * SHARE_CHUNKS, "uint32") + AEAD_TAG_BYTES


# ----------------------------------------------------------------------------- encoding
def check_levels(levels, n_clients: int):
    check_number("levels", levels, low=1, integer=True)
    if n_clients * int(levels) >= 2**MODULUS_BITS:
        raise ValueError(f"levels * clients must be < 2^{MODULUS_BITS} so the sum cannot wrap, got {levels} * "
                         f"{n_clients} = {n_clients * int(levels)}; lower levels")


def quantize(updates, clip: float = 8.0, levels: int = 2**22, seed=0) -> np.ndarray:
    """Clip each value to ``[-clip, clip]`` and map it to an integer in ``[0, levels]`` by unbiased
    stochastic rounding (Flower's SecAgg+ encoding): ``(x + clip) · levels / (2 clip)``, rounded up
    with probability equal to its fractional part. Row ``u`` uses the stream ``(seed, u)``."""
    U = check_finite_array("updates", updates, ndim=2)
    check_number("clip", clip, low=0, low_open=True)
    check_levels(levels, 1)
    out = np.empty(U.shape, dtype=np.uint32)
    for u, row in enumerate(U):
        rng = np.random.default_rng(None if seed is None else [seed, u, 1])
        v = (np.clip(row, -clip, clip) + clip) * (levels / (2 * clip))
        low = np.floor(v)
        out[u] = (low + (rng.random(v.shape) < v - low)).astype(np.uint32)
    return out


def dequantize(total_int, n_summed: int, clip: float = 8.0, levels: int = 2**22) -> np.ndarray:
    """The float sum of ``n_summed`` quantised vectors from their integer sum: ``Σq · 2 clip / levels − n clip``."""
    check_number("n_summed", n_summed, low=0, integer=True)
    return np.asarray(total_int, dtype=np.float64) * (2 * clip / levels) - n_summed * clip


# ----------------------------------------------------------------------------- the graph
def neighbour_graph(n: int, neighbours=None, rng=None) -> tuple:
    """Each client's neighbours (sorted arrays, itself excluded): everyone (``None``, SecAgg), or a
    random ``neighbours``-regular circulant graph (SecAgg+: ``neighbours/2`` on each side of a random
    order of the clients; ``neighbours`` even, in ``[2, n − 1]``)."""
    check_number("n", n, low=1, integer=True)
    if neighbours is None:
        everyone = np.arange(n)
        return tuple(np.delete(everyone, u) for u in range(n))
    check_number("neighbours", neighbours, low=2, high=n - 1, integer=True)
    if neighbours % 2:
        raise ValueError(f"neighbours must be even (a circulant graph: neighbours/2 on each side), got {neighbours}")
    order = (rng if rng is not None else np.random.default_rng()).permutation(n)
    pos = np.empty(n, dtype=int)
    pos[order] = np.arange(n)
    half = neighbours // 2
    offsets = np.r_[-half:0, 1:half + 1]
    return tuple(np.sort(order[(pos[u] + offsets) % n]) for u in range(n))


# ----------------------------------------------------------------------------- the parties
class Client:
    """One client's side of the protocol: its input and secrets (never sent in the clear)."""

    def __init__(self, index: int, x: np.ndarray, neighbours: np.ndarray, rng, pair_keys: PairKeys):
        self.index, self.x, self.neighbours, self.rng = index, x, neighbours, rng
        self.c_pair, self.s_pair = keypair(rng), keypair(rng)
        self.pair_keys, self.enc_keys, self.received = pair_keys, {}, {}

    def advertise(self):
        return self.c_pair.public, self.s_pair.public

    def share_keys(self, keys: dict, threshold: int, round_index: int) -> dict:
        """Shamir-share ``b_u`` and ``s_u`` among ``N(u) ∪ {u}``; returns ciphertexts by recipient."""
        import os

        self.keys = keys
        self.b = os.urandom(KEY_BYTES) if self.rng is None else self.rng.bytes(KEY_BYTES)
        holders = np.sort(np.r_[self.neighbours, self.index])
        coeff_rng = self.rng if self.rng is not None else np.random.default_rng()
        shares = shamir.split(self.b + self.s_pair.private_bytes(), threshold, holders + 1, coeff_rng)  # b ‖ s
        out = {}
        for v, share in zip(holders, shares.astype("<u4")):
            if v == self.index:
                self.received[self.index] = share
                continue
            key = self.enc_keys[v] = self.pair_keys.get(self.index, int(v), self.c_pair, keys[v][0],
                                                        b"tinydtl/secagg/%d/shares" % round_index)
            out[int(v)] = aead_seal(key, share.tobytes(), self.index, int(v), round_index)
        return out

    def receive(self, sender: int, ciphertext: bytes) -> None:
        self.received[sender] = ciphertext

    def masked_input(self, round_index: int) -> np.ndarray:
        """``y_u = x_u + PRG(b_u) + Σ_v ±PRG(s_uv)`` mod 2³²."""
        y = self.x + prg_uint32(self.b, self.x.size)  # a new array: the input itself stays as it is
        for v in self.neighbours:
            key = self.pair_keys.get(self.index, int(v), self.s_pair, self.keys[v][1],
                                     b"tinydtl/secagg/%d/mask" % round_index)
            mask = prg_uint32(key, y.size)
            if self.index < v:
                y += mask
            else:
                y -= mask
        return y

    def unmask(self, survivors: set, round_index: int) -> dict:
        """For each owner in ``N(u) ∪ {u}``: its ``b`` share if it survived, its ``s`` share if it dropped."""
        out = {}
        for owner, blob in self.received.items():
            if owner == self.index:
                share = blob
            else:
                plain = aead_open(self.enc_keys[owner], blob, owner, self.index, round_index)
                share = np.frombuffer(plain, "<u4")
            kind = "b" if owner in survivors else "s"
            out[owner] = (kind, share[:SHARE_CHUNKS] if kind == "b" else share[SHARE_CHUNKS:])
        return out


@dataclass
class Server:
    """Everything the server receives and derives — and nothing else (the tests read it)."""

    public_keys: dict = field(default_factory=dict)
    ciphertexts: dict = field(default_factory=dict)     # (sender, recipient) -> encrypted shares
    masked_inputs: dict = field(default_factory=dict)   # client -> y_u
    unmask_shares: dict = field(default_factory=dict)   # (holder, owner) -> ("b" or "s", share)
    self_mask_seeds: dict = field(default_factory=dict)  # survivor -> b_u, rebuilt from shares
    mask_private_keys: dict = field(default_factory=dict)  # dropped client -> s_u, rebuilt from shares

    def rebuild(self, owner: int, holders, threshold: int) -> bytes:
        got = [(h, self.unmask_shares[(h, owner)][1]) for h in holders if (h, owner) in self.unmask_shares]
        if len(got) < threshold:
            raise ValueError(f"cannot unmask: client {owner}'s secrets reached only {len(got)} surviving share "
                             f"holders, fewer than threshold={threshold}; the round fails")
        got = got[:threshold]
        return shamir.combine(np.array([s for _, s in got]), [h + 1 for h, _ in got])


@dataclass(frozen=True)
class SecAggResult:
    """``total``: the float sum of the survivors' updates (as quantised); ``total_int``: its integer
    form mod 2³²; ``survivors``; ``server_view``: what the server holds (read-only); ``traffic``: the
    round's bytes by the core's byte rule (``by_phase``: per protocol step); ``graph``: neighbours."""

    total: np.ndarray
    survivors: tuple
    server_view: MappingProxyType
    traffic: Traffic
    total_int: np.ndarray
    by_phase: dict
    graph: tuple


# ----------------------------------------------------------------------------- the protocol
def check_dropped(dropped, n: int) -> set:
    if isinstance(dropped, (str, bytes)) or not hasattr(dropped, "__iter__"):
        raise TypeError(f"dropped must be a collection of client indices, got {type(dropped).__name__}")
    out = set()
    for d in dropped:
        if not isinstance(d, numbers.Integral) or isinstance(d, (bool, np.bool_)) or not 0 <= d < n:
            raise ValueError(f"dropped must hold client indices in [0, {n - 1}], got {d!r}")
        out.add(int(d))
    return out


def secure_aggregate(updates, *, threshold: int, dropped=(), neighbours=None, clip: float = 8.0,
                     levels: int = 2**22, seed=0, round_index: int = 0) -> SecAggResult:
    """Sum ``updates`` (one row per client) by secure aggregation; see the module docstring.

    ``threshold`` (``t``): shares needed to rebuild a secret, in ``[1, n]`` (``[1, neighbours + 1]``
    for SecAgg+); ``dropped``: clients that drop after sharing their keys; ``neighbours``: ``None``
    for SecAgg (complete graph) or an even ``k`` for SecAgg+; ``clip``, ``levels``: the encoding
    (:func:`quantize`); ``seed``: client secrets, the graph and the rounding (``None``: fresh entropy).
    """
    U = check_finite_array("updates", updates, ndim=2)
    n, d = U.shape
    if n < 2:
        raise ValueError(f"updates must hold at least two clients' rows, got {n}")
    check_number("threshold", threshold, low=1, high=n, integer=True)
    graph_rng = np.random.default_rng(None if check_seed("seed", seed, allow_none=True) is None else [seed, 0, 2])
    graph = neighbour_graph(n, neighbours, graph_rng)
    if neighbours is not None and threshold > neighbours + 1:
        raise ValueError(f"threshold must be <= neighbours + 1 = {neighbours + 1} (the holders of each client's "
                         f"shares), got {threshold}")
    check_levels(levels, n)
    lost = check_dropped(dropped, n)
    check_number("round_index", round_index, low=0, high=2**32 - 1, integer=True)
    X = quantize(U, clip, levels, seed)
    pair_keys = PairKeys()
    clients = [Client(u, X[u], graph[u], None if seed is None else np.random.default_rng([seed, u, 3]), pair_keys)
               for u in range(n)]
    server, phases = Server(), {}
    phases["advertise"] = advertise(server, clients)
    phases["share_keys"] = share_keys(server, clients, threshold, round_index)
    survivors = [c for c in clients if c.index not in lost]
    for c in survivors:
        server.masked_inputs[c.index] = c.masked_input(round_index)
    phases["masked_input"] = Traffic(len(survivors) * payload_bytes(d, "uint32"), 0, len(survivors))
    total, phases["unmasking"] = unmask(server, clients, survivors, threshold, round_index)
    alive = tuple(c.index for c in survivors)
    traffic = sum(phases.values(), Traffic())
    return SecAggResult(dequantize(total, len(alive), clip, levels), alive, MappingProxyType(vars(server)), traffic,
                        total, phases, graph)


def advertise(server: Server, clients) -> Traffic:
    """Phase 1: public keys up; each client's neighbours' keys (with their ids) down."""
    for c in clients:
        server.public_keys[c.index] = c.advertise()
    down = sum(payload_bytes(2 * KEY_BYTES * len(c.neighbours), "uint8") + payload_bytes(len(c.neighbours), "uint32")
               for c in clients)
    return Traffic(len(clients) * payload_bytes(2 * KEY_BYTES, "uint8"), down, 2 * len(clients))


def share_keys(server: Server, clients, threshold: int, round_index: int) -> Traffic:
    """Phase 2: encrypted shares up, relayed (still encrypted) down to their recipients."""
    up = 0
    for c in clients:
        out = c.share_keys({int(v): server.public_keys[int(v)] for v in c.neighbours}, threshold, round_index)
        for v, blob in out.items():
            server.ciphertexts[(c.index, v)] = blob
            up += payload_bytes(len(blob), "uint8") + payload_bytes(2, "uint32")  # ciphertext and (from, to)
    for (u, v), blob in server.ciphertexts.items():
        clients[v].receive(u, blob)
    return Traffic(up, up, 2 * len(clients))


def unmask(server: Server, clients, survivors, threshold: int, round_index: int):
    """Phase 4: shares of survivors' ``b`` and dropped clients' ``s`` up; the server removes the masks."""
    alive = {c.index for c in survivors}
    up = down = 0
    for c in survivors:
        for owner, share in c.unmask(alive, round_index).items():
            server.unmask_shares[(c.index, owner)] = share
        up += payload_bytes(len(c.received) * (SHARE_CHUNKS + 1), "uint32")  # (owner, share) pairs
        down += payload_bytes(len(c.neighbours) + 1, "uint32")  # who survived among its neighbours
    total = np.zeros(clients[0].x.size, dtype=np.uint32)
    for y in server.masked_inputs.values():
        total += y
    for c in clients:
        holders = sorted(set(np.r_[c.neighbours, c.index].tolist()) & alive)
        secret = server.rebuild(c.index, holders, threshold)
        if c.index in alive:
            server.self_mask_seeds[c.index] = secret
            total -= prg_uint32(secret, total.size)
        else:
            server.mask_private_keys[c.index] = secret
            pair = KeyPair(secret)
            for v in c.neighbours:
                if int(v) in alive:  # v added +PRG if v < u, -PRG otherwise: take it back
                    mask = prg_uint32(agree(pair, server.public_keys[int(v)][1],
                                            b"tinydtl/secagg/%d/mask" % round_index), total.size)
                    if v < c.index:
                        total -= mask
                    else:
                        total += mask
    return total, Traffic(up, down, 2 * len(survivors))
