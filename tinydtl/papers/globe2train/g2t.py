"""Globe2Train's device side (G2T-D, the paper's Algorithm 1): accumulate, then encode and send.

Sudharsan, Breslin & Ali (IEEE SmartWorld 2021), Algorithm 1, as simulated here. A device ``k``
with network quality ``q_k`` trains the binary problems the cloud gave it, one after another, and

1. sets its threshold ``W_t = W_0 / q_k`` (bytes): the worse the network, the more it holds back
   (:func:`threshold`);
2. after each trained problem adds the problem's weights (float32, ``(d+1) × 4`` bytes) to a local
   buffer; while the buffer holds fewer than ``W_t`` bytes it keeps training;
3. once the buffer reaches ``W_t`` (or its last problem of the round is done), *encodes* the buffer —
   for every problem its id and number of non-zeros, then the index and value of each non-zero
   weight (:func:`encode`) — and sends that one message (:meth:`tinydtl.networks.netsim.Network.transmit`).

Fewer, larger messages on poor links pay the latency, congestion and drop-timeouts fewer times. The
cloud side runs in rounds: it assigns pending problems to the devices online
(:func:`tinydtl.papers.globe2train.fleet.assign_problems`), and a problem whose result has not *arrived* when its device
drops out (unfinished, waiting in the buffer, or in flight) goes back to the pool and is reassigned
in the next round — no finished problem is lost for good.

Staleness: each problem's weights live in their own slot of the assembled model and are computed
from the problem's data alone, so an update's staleness — the slot's version when it is applied
minus its version when training started — is 0 unless a problem were delivered twice; it is
measured per update (:attr:`G2TResult.staleness`), not assumed.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import numpy as np

from tinydtl.core.history import History
from tinydtl.core.simulation import Algorithm, StopTraining, simulate
from tinydtl.core.traffic import FLOAT32_BYTES, Traffic, payload_bytes
from tinydtl.core.validation import check_int, check_number
from tinydtl.papers.globe2train.fleet import assign_problems, check_devices

__all__ = ["EncodedVector", "G2TResult", "decode", "encode", "model_vector", "run_g2t_d", "threshold"]

PROBLEM_HEADER_BYTES = 8  # problem id (uint32) + number of non-zeros (uint32)


def threshold(quality: float, base_bytes: float) -> float:
    """G2T-D's threshold ``W_t = W_0 / q`` in bytes (grows as the network quality ``q`` worsens)."""
    check_number("quality", quality, low=0, high=1, low_open=True)
    check_number("W_0 (threshold_bytes)", base_bytes, low=0, low_open=True)
    return base_bytes / quality


def _index_bytes(length: int) -> int:
    return 1 if length <= 1 << 8 else 2 if length <= 1 << 16 else 4


@dataclass(frozen=True)
class EncodedVector:
    """The non-zeros of a weight vector: their indices (the smallest unsigned integer type that holds
    ``length``) and their float32 values."""

    length: int
    indices: np.ndarray
    values: np.ndarray

    @property
    def nbytes(self) -> int:
        """``8`` header bytes (problem id, count) + per non-zero its index and its float32 value."""
        return PROBLEM_HEADER_BYTES + len(self.indices) * (_index_bytes(self.length) + FLOAT32_BYTES)


def encode(vector) -> EncodedVector:
    """G2T-D's encode step: keep the index and value of every non-zero entry of ``vector`` (1-D)."""
    v = np.asarray(vector, dtype=np.float32)
    if v.ndim != 1:
        raise ValueError(f"vector must be 1-D, got shape {v.shape}")
    idx = np.flatnonzero(v)
    dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32}[_index_bytes(len(v))]
    return EncodedVector(len(v), idx.astype(dtype), v[idx])


def decode(encoded: EncodedVector) -> np.ndarray:
    """The dense float32 vector back from :func:`encode` (lossless)."""
    v = np.zeros(encoded.length, dtype=np.float32)
    v[encoded.indices.astype(np.intp)] = encoded.values
    return v


def model_vector(estimator) -> np.ndarray | None:
    """A fitted linear binary classifier's weights ``[coef, intercept]`` as float32; None if it has no ``coef_``."""
    if hasattr(estimator, "coef_"):
        parts = [np.ravel(estimator.coef_), np.ravel(getattr(estimator, "intercept_", []))]
        return np.concatenate(parts).astype(np.float32)
    return None


def _payload(estimator) -> tuple[int, int]:
    """(dense bytes held in the buffer, bytes sent after encoding) of one trained binary classifier."""
    v = model_vector(estimator)
    if v is None:  # not a linear model: send it serialised, no encoding
        n = len(pickle.dumps(estimator))
        return n, PROBLEM_HEADER_BYTES + n
    return payload_bytes(len(v)), encode(v).nbytes


@dataclass
class G2TResult:
    """What a simulated G2T run did.

    ``history``: the core's :class:`tinydtl.core.history.History`, one row per round (row 0: nothing sent
    yet) with the standard columns (``bytes_up``: encoded weight messages; ``bytes_down``: the
    problems' training data sent to the devices; ``messages``: both kinds of transmissions;
    ``live_devices``; ``seconds`` and ``cpu_seconds``: the host's wall and CPU time, as everywhere in
    the core) and the extra columns ``sim_seconds`` (simulated duration of the round), ``time``
    (simulated clock at its end), ``assigned``, ``delivered``, ``reassigned``, ``bytes_up_dense``
    (what the same messages would cost without encoding), ``weight_messages`` (the encoded weight
    messages among ``messages``), ``attempts`` (transmissions including retransmissions),
    ``staleness`` (largest in the round) and ``flops``.

    Per problem ``p``: ``delivered_by[p]`` (the device whose message brought it), ``delivered_at[p]``
    (simulated time); ``reassigned``: ``(problem, device, round, finished)`` for every problem a
    device lost by dropping out (``finished``: it had been trained and was waiting in the buffer or
    in flight); ``staleness``: one entry per applied update.
    """

    history: History
    delivered_by: list = field(default_factory=list)
    delivered_at: list = field(default_factory=list)
    reassigned: list = field(default_factory=list)
    staleness: list = field(default_factory=list)

    @property
    def completion_s(self) -> float:
        """Simulated seconds until the last binary problem arrived."""
        return float(np.nanmax(self.delivered_at)) if self.delivered_at else 0.0

    def total(self, column: str) -> float:
        """Sum of a per-round column over the run (e.g. ``"bytes_up"``, ``"messages"``)."""
        return float(self.history.cumulative(column)[-1])


def run_g2t_d(train, costs, devices, network, *, threshold_bytes: float, data_bytes=None, max_rounds: int = 10_000,
              ship_data: bool = True) -> G2TResult:
    """Simulate G2T-C's rounds and G2T-D's accumulate-encode-send on every device.

    Parameters
    ----------
    train : callable ``p -> fitted binary estimator``
        Trains problem ``p`` (called when a device finishes training it).
    costs : array of floats
        Floating-point operations of each problem (:func:`tinydtl.papers.globe2train.fleet.problem_costs`).
    devices : list of :class:`tinydtl.papers.globe2train.fleet.Device`
    network : :class:`tinydtl.networks.netsim.Network`
        One link per device.
    threshold_bytes : float > 0
        ``W_0``; device ``k`` uses ``W_t = W_0 / q_k``.
    data_bytes : array of ints, optional
        Bytes of each problem's training data, downloaded before training when ``ship_data``.
    max_rounds : int
        A run that has not delivered every problem after this many rounds raises RuntimeError
        ("never completed" is an error, not a number).

    The rounds run on the core's loop (:func:`tinydtl.core.simulation.simulate`, one round = one G2T-C
    scheduling round) until every problem has arrived: how many is not known in advance, so
    ``simulate`` runs with ``rounds=None`` and a controller that raises
    :class:`~tinydtl.core.simulation.StopTraining` once the ``delivered`` column sums to the number of
    problems. A wait while every device is offline is not a round (no row), but it counts towards
    ``max_rounds``, as a round does.
    Bytes follow the core's rule (:mod:`tinydtl.networks.transport`): payload bytes per transmission
    (here the encoded message), retransmissions not counted (they are in ``attempts``).
    """
    check_devices(devices)
    check_number("threshold_bytes", threshold_bytes, low=0, low_open=True)
    check_int("max_rounds", max_rounds, 1)
    if len(network) != len(devices):
        raise ValueError(f"network has {len(network)} links for {len(devices)} devices")
    costs = np.asarray(costs, dtype=float)
    P = len(costs)
    data_bytes = np.zeros(P, dtype=np.int64) if data_bytes is None else np.asarray(data_bytes, dtype=np.int64)
    W_t = [threshold(dev.quality, threshold_bytes) for dev in devices]
    # per problem: who delivered it and when; per lost problem and per applied update (see G2TResult)
    delivered_by, delivered_at, reassigned, staleness = [-1] * P, [np.nan] * P, [], []
    version = np.zeros(P, dtype=np.int64)  # slot versions of the assembled model
    payloads: dict[int, tuple[int, int]] = {}

    def payload(p):
        if p not in payloads:
            payloads[p] = _payload(train(p))
        return payloads[p]

    def never_completed(pending):
        return RuntimeError(f"G2T never completed: {len(pending)} of {P} binary problems undelivered after "
                            f"{max_rounds} rounds")

    def init():
        # tries: scheduling attempts so far (a round, or a wait while every device is offline)
        return {"pending": list(range(P)), "t": 0.0, "tries": 0}

    def apply(state, r, settings):
        """One G2T-C round: assign the pending problems to the devices online, let each run G2T-D."""
        pending, t, tries = state["pending"], state["t"], state["tries"]
        while True:
            if tries >= max_rounds:
                raise never_completed(pending)
            tries += 1
            online = [k for k in range(len(devices)) if network.online(k, t)]
            if online:
                break
            t = min(network.next_online(k, t) for k in range(len(devices)))
        rnd = r + 1
        plan = assign_problems(pending, costs, devices, online, data_bytes=data_bytes if ship_data else None,
                               links=network.links)
        traffic, dense, attempts, flops, delivered, stale, sends = Traffic(), 0, 0, 0.0, 0, [], 0
        ends = [t]
        still = set(pending)
        lost_total = 0
        for k in sorted(plan):
            problems = plan[k]
            leave = network.next_dropout(k, t)
            now = t
            buffer, held = [], 0  # problems waiting to be sent, their dense bytes
            started = {}
            for n, p in enumerate(problems):
                if ship_data and data_bytes[p] > 0:
                    down = network.transmit(k, int(data_bytes[p]), now)
                    if down.start < leave:
                        traffic += Traffic(bytes_down=int(data_bytes[p]), messages=1)
                        attempts += down.attempts
                    now = down.arrival
                started[p] = version[p]
                now += costs[p] / devices[k].speed
                if now > leave:
                    break
                flops += costs[p]
                buffer.append(p)
                held += payload(p)[0]
                if held < W_t[k] and n < len(problems) - 1:
                    continue
                # encode the buffer and send it as one message
                sent = sum(payload(q)[1] for q in buffer)
                msg = network.transmit(k, sent, now)
                if msg.start < leave:
                    traffic += Traffic(bytes_up=sent, messages=1)
                    sends += 1
                    dense += held
                    attempts += msg.attempts
                if msg.arrival > leave:
                    break
                for q in buffer:
                    s = int(version[q] - started[q])
                    staleness.append(s)
                    stale.append(s)
                    version[q] += 1
                    delivered_by[q] = k
                    delivered_at[q] = msg.arrival
                    still.discard(q)
                    delivered += 1
                buffer, held = [], 0
                now = msg.arrival
            lost = [p for p in problems if p in still]
            reassigned.extend((p, k, rnd, p in buffer) for p in lost)
            lost_total += len(lost)
            ends.append(min(now, leave))
        t_end = max(ends)
        stats = dict(**traffic.as_row(), live_devices=len(online), sim_seconds=t_end - t, time=t_end,
                     assigned=sum(map(len, plan.values())), delivered=delivered, reassigned=lost_total,
                     bytes_up_dense=dense, weight_messages=sends, attempts=attempts,
                     staleness=max(stale) if stale else np.nan, flops=flops)
        return {"pending": sorted(still), "t": t_end, "tries": tries}, stats

    arrived = [0]  # running total of the ``delivered`` column (one add per round, not a column sum)

    def until_delivered(round_done, history, settings):
        """Controller: stop once every problem has arrived (each arrives once: a delivered problem
        leaves the pool). A run still pending after ``max_rounds`` raises in ``apply``."""
        arrived[0] += history.last("delivered")
        if arrived[0] == P:
            raise StopTraining("every binary problem delivered")
        return settings

    zeros = dict(sim_seconds=0.0, time=0.0, assigned=0, delivered=0, reassigned=0, bytes_up_dense=0,
                 weight_messages=0, attempts=0, staleness=np.nan, flops=0.0)
    algorithm = Algorithm("g2t-d", init, apply, live_devices=len(devices), initial_stats=zeros)
    history = simulate(algorithm, None if P else 0, controller=until_delivered,
                       config=dict(threshold_bytes=threshold_bytes, devices=len(devices), problems=P, ship_data=ship_data))
    return G2TResult(history, delivered_by, delivered_at, reassigned, staleness)
