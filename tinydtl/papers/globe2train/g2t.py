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

The simulation is an :class:`~tinydtl.core.simulation.Algorithm` (:func:`g2t_algorithm`): what
changes during a run — the clock, the pending problems, the network's random draws, who delivered
what — lives in the state ``init()`` returns, so running the same algorithm twice gives the same
history; the run stops once the ``pending`` column reaches 0 (:func:`until_delivered`).

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
from tinydtl.core.plans import PlanSettings
from tinydtl.core.simulation import Algorithm, StopTraining, simulate
from tinydtl.core.traffic import FLOAT32_BYTES, Traffic, payload_bytes
from tinydtl.core.validation import check_bool, check_int, check_number
from tinydtl.networks.netsim import check_network
from tinydtl.papers.globe2train.fleet import assign_problems, check_costs, check_devices

__all__ = [
    "EncodedVector",
    "G2TResult",
    "G2TSimulation",
    "decode",
    "encode",
    "g2t_algorithm",
    "model_vector",
    "run_g2t_d",
    "threshold",
    "trained_payload",
    "until_delivered",
]

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


def trained_payload(estimator) -> tuple[int, int]:
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
    ``staleness`` (largest in the round), ``flops`` and ``pending`` (problems not yet arrived at
    the round's end).

    Per problem ``p``: ``delivered_by[p]`` (the device whose message brought it), ``delivered_at[p]``
    (simulated time); ``reassigned``: ``(problem, device, round, finished)`` for every problem a
    device lost by dropping out (``finished``: it had been trained and was waiting in the buffer or
    in flight); ``staleness``: one entry per applied update. (The same record is the history's
    ``weights``, what the algorithm's ``final`` returns.)
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


@dataclass
class RoundTally:
    """What one G2T-C round did so far (summed over its devices), and the problems still not arrived."""

    t: float
    still: set
    traffic: Traffic = field(default_factory=Traffic)
    dense: int = 0
    attempts: int = 0
    flops: float = 0.0
    delivered: int = 0
    sends: int = 0
    lost: int = 0
    stale: list = field(default_factory=list)
    ends: list = field(default_factory=list)

    def stats(self, live: int, assigned: int, t_end: float) -> dict:
        """The round's History columns (see :class:`G2TResult`)."""
        return dict(**self.traffic.as_row(), live_devices=live, sim_seconds=t_end - self.t, time=t_end,
                    assigned=assigned, delivered=self.delivered, reassigned=self.lost, bytes_up_dense=self.dense,
                    weight_messages=self.sends, attempts=self.attempts,
                    staleness=max(self.stale) if self.stale else np.nan, flops=self.flops, pending=len(self.still))


@dataclass
class DeviceRun:
    """One device's part of a round: its clock, when it leaves, and its accumulation buffer."""

    k: int
    now: float
    leave: float
    buffer: list = field(default_factory=list)  # trained problems waiting to be sent
    held: int = 0  # their dense bytes
    started: dict = field(default_factory=dict)  # problem -> its slot's version when training started


def check_data_bytes(data_bytes, n_problems: int) -> np.ndarray:
    """Bytes of each problem's data: ``n_problems`` whole numbers ``>= 0``, as int64."""
    db = check_costs(data_bytes, "data_bytes")
    if db.shape != (n_problems,):
        raise ValueError(f"data_bytes must have shape ({n_problems},), one size per problem, got {db.shape}")
    if np.any(db != np.floor(db)):
        raise ValueError("data_bytes must hold whole numbers of bytes")
    return db.astype(np.int64)


def until_delivered(round_done, history, settings):
    """Controller: stop once no problem is pending (each arrives once: a delivered problem leaves the
    pool). A run still pending after ``max_rounds`` raises in ``apply``."""
    if history.last("pending") == 0:
        raise StopTraining("every binary problem delivered")
    return settings


class G2TSimulation:
    """G2T-C's rounds and G2T-D on every device as an :class:`~tinydtl.core.simulation.Algorithm`.

    The inputs (see :func:`run_g2t_d`) are fixed here; everything a run changes is in the state of
    :meth:`init`: ``network`` (:meth:`tinydtl.networks.netsim.Network.fresh`, its draws from the
    start), ``t`` (the clock), ``pending``, ``tries`` (scheduling attempts: a round, or a wait while
    every device is offline), ``version`` (slot versions of the assembled model), ``payloads`` (each
    trained problem's dense and encoded bytes) and the per-problem record of :class:`G2TResult`.
    """

    def __init__(self, train, costs, devices, network, *, threshold_bytes: float, data_bytes=None,
                 max_rounds: int = 10_000, ship_data: bool = True):
        if not callable(train):
            raise TypeError(f"train must be callable as train(problem) -> fitted binary estimator, got "
                            f"{type(train).__name__}")
        check_devices(devices)
        check_number("threshold_bytes", threshold_bytes, low=0, low_open=True)
        check_int("max_rounds", max_rounds, 1)
        check_bool("ship_data", ship_data)
        check_network(network, len(devices))
        self.train, self.devices, self.network = train, list(devices), network
        self.costs = check_costs(costs)  # flops: finite, >= 0 (a negative cost ran the clock backwards)
        self.n_problems = P = len(self.costs)
        self.data_bytes = np.zeros(P, dtype=np.int64) if data_bytes is None else check_data_bytes(data_bytes, P)
        self.threshold_bytes, self.max_rounds, self.ship_data = threshold_bytes, max_rounds, bool(ship_data)
        self.thresholds = [threshold(dev.quality, threshold_bytes) for dev in self.devices]  # W_t per device

    def init(self) -> dict:
        P = self.n_problems
        return {"network": self.network.fresh(), "t": 0.0, "pending": list(range(P)), "tries": 0,
                "version": np.zeros(P, dtype=np.int64), "payloads": {},
                "delivered_by": [-1] * P, "delivered_at": [np.nan] * P, "reassigned": [], "staleness": []}

    def apply(self, state: dict, r: int, settings: PlanSettings) -> tuple[dict, dict]:
        """One G2T-C round: assign the pending problems to the devices online, let each run G2T-D."""
        online = self.wait_for_online(state)
        plan = assign_problems(state["pending"], self.costs, self.devices, online,
                               data_bytes=self.data_bytes if self.ship_data else None, links=state["network"].links)
        tally = RoundTally(state["t"], set(state["pending"]), ends=[state["t"]])
        for k in sorted(plan):
            self.run_device(state, k, plan[k], r + 1, tally)
        state["pending"], state["t"] = sorted(tally.still), max(tally.ends)
        return state, tally.stats(len(online), sum(map(len, plan.values())), state["t"])

    def final(self, state: dict) -> dict:
        """The per-problem record of :class:`G2TResult` (becomes the history's ``weights``)."""
        return {name: state[name] for name in ("delivered_by", "delivered_at", "reassigned", "staleness")}

    def algorithm(self) -> Algorithm:
        zeros = dict(sim_seconds=0.0, time=0.0, assigned=0, delivered=0, reassigned=0, bytes_up_dense=0,
                     weight_messages=0, attempts=0, staleness=np.nan, flops=0.0, pending=self.n_problems)
        return Algorithm("g2t-d", self.init, self.apply, final=self.final, live_devices=len(self.devices),
                         initial_stats=zeros)

    def config(self) -> dict:
        return dict(threshold_bytes=self.threshold_bytes, devices=len(self.devices), problems=self.n_problems,
                    ship_data=self.ship_data)

    # ------------------------------------------------------------------ the steps of a round
    def wait_for_online(self, state: dict) -> list[int]:
        """The devices online at the round's start; while none is, the clock jumps to the first return."""
        network, n = state["network"], len(self.devices)
        while True:
            if state["tries"] >= self.max_rounds:
                raise RuntimeError(f"G2T never completed: {len(state['pending'])} of {self.n_problems} binary "
                                   f"problems undelivered after {self.max_rounds} rounds")
            state["tries"] += 1
            online = [k for k in range(n) if network.online(k, state["t"])]
            if online:
                return online
            state["t"] = min(network.next_online(k, state["t"]) for k in range(n))

    def run_device(self, state: dict, k: int, problems: list, rnd: int, tally: RoundTally) -> None:
        """G2T-D on device ``k``: train its problems in order, send the buffer once it holds ``W_t``
        bytes (or the last problem is done); whatever has not arrived when it leaves is lost."""
        run = DeviceRun(k, now=tally.t, leave=state["network"].next_dropout(k, tally.t))
        for n, p in enumerate(problems):
            if not self.train_problem(state, run, p, tally):
                break
            if run.held < self.thresholds[k] and n < len(problems) - 1:
                continue
            if not self.send_buffer(state, run, tally):
                break
        lost = [p for p in problems if p in tally.still]
        state["reassigned"].extend((p, k, rnd, p in run.buffer) for p in lost)
        tally.lost += len(lost)
        tally.ends.append(min(run.now, run.leave))

    def train_problem(self, state: dict, run: DeviceRun, p: int, tally: RoundTally) -> bool:
        """Receive problem ``p``'s data (when shipped) and train it; False if the device leaves first."""
        if self.ship_data and self.data_bytes[p] > 0:
            down = state["network"].transmit(run.k, int(self.data_bytes[p]), run.now)
            if down.start < run.leave:
                tally.traffic += Traffic(bytes_down=int(self.data_bytes[p]), messages=1)
                tally.attempts += down.attempts
            run.now = down.arrival
        run.started[p] = state["version"][p]
        run.now += self.costs[p] / self.devices[run.k].speed
        if run.now > run.leave:
            return False
        tally.flops += self.costs[p]
        run.buffer.append(p)
        run.held += self.payload(state, p)[0]
        return True

    def send_buffer(self, state: dict, run: DeviceRun, tally: RoundTally) -> bool:
        """Encode the buffer and send it as one message; False if the device leaves before it arrives."""
        sent = sum(self.payload(state, q)[1] for q in run.buffer)
        msg = state["network"].transmit(run.k, sent, run.now)
        if msg.start < run.leave:
            tally.traffic += Traffic(bytes_up=sent, messages=1)
            tally.sends += 1
            tally.dense += run.held
            tally.attempts += msg.attempts
        if msg.arrival > run.leave:
            return False
        for q in run.buffer:
            self.deliver(state, q, run, msg.arrival, tally)
        run.buffer, run.held, run.now = [], 0, msg.arrival
        return True

    def deliver(self, state: dict, q: int, run: DeviceRun, arrival: float, tally: RoundTally) -> None:
        """Problem ``q`` arrived from device ``run.k``: apply it to its slot and record its staleness."""
        s = int(state["version"][q] - run.started[q])
        state["staleness"].append(s)
        tally.stale.append(s)
        state["version"][q] += 1
        state["delivered_by"][q] = run.k
        state["delivered_at"][q] = arrival
        tally.still.discard(q)
        tally.delivered += 1

    def payload(self, state: dict, p: int) -> tuple[int, int]:
        """(dense, encoded) bytes of trained problem ``p`` (trained once per run, then remembered)."""
        if p not in state["payloads"]:
            state["payloads"][p] = trained_payload(self.train(p))
        return state["payloads"][p]


def g2t_algorithm(train, costs, devices, network, *, threshold_bytes: float, data_bytes=None, max_rounds: int = 10_000,
                  ship_data: bool = True) -> Algorithm:
    """The :class:`~tinydtl.core.simulation.Algorithm` of :func:`run_g2t_d` (same parameters); run it with
    ``simulate(algorithm, None, controller=until_delivered)``."""
    return G2TSimulation(train, costs, devices, network, threshold_bytes=threshold_bytes, data_bytes=data_bytes,
                         max_rounds=max_rounds, ship_data=ship_data).algorithm()


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
        One link per device (not advanced: the run uses :meth:`~tinydtl.networks.netsim.Network.fresh`).
    threshold_bytes : float > 0
        ``W_0``; device ``k`` uses ``W_t = W_0 / q_k``.
    data_bytes : array of ints, optional
        Bytes of each problem's training data, downloaded before training when ``ship_data``.
    max_rounds : int
        A run that has not delivered every problem after this many rounds raises RuntimeError
        ("never completed" is an error, not a number).

    The rounds run on the core's loop (:func:`tinydtl.core.simulation.simulate`, one round = one G2T-C
    scheduling round) until every problem has arrived: how many is not known in advance, so
    ``simulate`` runs with ``rounds=None`` and the controller :func:`until_delivered`, which raises
    :class:`~tinydtl.core.simulation.StopTraining` once the ``pending`` column is 0. A wait while
    every device is offline is not a round (no row), but it counts towards ``max_rounds``, as a
    round does. Bytes follow the core's rule (:mod:`tinydtl.networks.transport`): payload bytes per
    transmission (here the encoded message), retransmissions not counted (they are in ``attempts``).
    """
    sim = G2TSimulation(train, costs, devices, network, threshold_bytes=threshold_bytes, data_bytes=data_bytes,
                        max_rounds=max_rounds, ship_data=ship_data)
    history = simulate(sim.algorithm(), None if sim.n_problems else 0, controller=until_delivered, config=sim.config())
    return G2TResult(history, **history.weights)
