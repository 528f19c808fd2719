"""Globe2Train's devices and G2T-C's scheduling: who can hold how many problems, and who trains what.

Globe2Train (Sudharsan, Breslin & Ali, IEEE SmartWorld 2021) trains on idle IoT devices of very
different sizes, speeds and networks. Its cloud component G2T-C must therefore know, for each device,

* how many trained binary classifiers it can hold while training the next one — its *capacity*,
  from the board's SRAM (:func:`device_capacity`, built on :func:`tinydtl.devices.profile`);
* how fast it computes (``clock × flops per cycle × availability``, :class:`Device.speed`);
* how good its network is (its quality ``q ∈ (0, 1]``, see :mod:`tinydtl.networks.netsim`).

Each round G2T-C hands the pending binary problems to the devices online (:func:`assign_problems`):
longest problem first, each to the device that would finish it earliest (its queue, its compute
time ``cost / speed`` and the time to receive the problem's data over its link), never more than a
device's capacity. A problem that costs ``epochs × n_ij × (d + 1) × 6`` flops (:func:`problem_costs`)
keeps a device busy ``cost / speed`` seconds; its training data, ``n_ij`` samples of ``d`` features
and a label, is :func:`problem_data_bytes` bytes.

The device assumptions are the package's one set, :data:`tinydtl.devices.ASSUMPTIONS`: a learner may
use its ``usable_sram_fraction`` (75 %) of a board's SRAM, and a board computes
``flops_per_cycle`` (1/6: a multiply-accumulate, two flops, takes the 12 cycles lesson 06 counts) floating-point
operations per clock cycle. Both are read when a function
runs, so changing the package's assumptions changes every capacity and speed; pass
``usable_sram_fraction=`` or ``flops_per_cycle=`` to depart from them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tinydtl.core.traffic import payload_bytes
from tinydtl.core.validation import check_finite_array, check_int, check_number
from tinydtl.devices import Board, fits, load_boards, mlp_layers, profile
from tinydtl.devices import assumptions
from tinydtl.devices.assumptions import usable_fraction

__all__ = [
    "FLOPS_PER_CYCLE",
    "USABLE_SRAM_FRACTION",
    "Device",
    "assign_problems",
    "check_devices",
    "device_capacity",
    "make_devices",
    "check_costs",
    "check_online",
    "per_device",
    "problem_costs",
    "problem_data_bytes",
    "pair_sizes",
    "sample_bytes",
    "resolve_boards",
]

#: The share of a board's SRAM that training may use (the rest is stack, RTOS and radio buffers): the
#: package's :data:`tinydtl.devices.ASSUMPTIONS` ``.usable_sram_fraction`` (0.75), copied at import for
#: reading; the functions below read ``ASSUMPTIONS`` itself when they run.
USABLE_SRAM_FRACTION = assumptions.ASSUMPTIONS.usable_sram_fraction

#: Floating-point operations a board sustains per clock cycle: :data:`tinydtl.devices.ASSUMPTIONS`
#: ``.flops_per_cycle`` (1/6: a float multiply-add, two flops, every 12 cycles with loads and stores, as
#: lesson 06 counts on an emulated Cortex-M4F; the same for every algorithm compared).
FLOPS_PER_CYCLE = assumptions.ASSUMPTIONS.flops_per_cycle

#: Floating-point operations per sample and weight of one SGD-with-momentum step: a multiply-add
#: forward, one backward and one momentum update.
FLOPS_PER_SAMPLE_WEIGHT = 6.0


@dataclass(frozen=True)
class Device:
    """A device that can train binary problems.

    ``capacity``: trained binary classifiers it can hold at once (its accumulation buffer, see
    :func:`device_capacity`); ``flops``: floating-point operations per second it sustains;
    ``availability``: the fraction of its time it lends to training (idle time), in (0, 1];
    ``quality``: its network quality in (0, 1] (1 = good; see :mod:`tinydtl.networks.netsim`).
    """

    name: str
    board: str
    capacity: int
    flops: float
    availability: float = 1.0
    quality: float = 1.0

    @property
    def speed(self) -> float:
        """Effective floating-point operations per second lent to training."""
        return self.flops * self.availability


def resolve_boards(boards) -> list[Board]:
    """``boards`` as :class:`tinydtl.devices.Board` objects (names are read by :func:`load_boards`)."""
    known, resolved = None, []
    for b in boards:
        if isinstance(b, str):
            known = known or load_boards()
            if b not in known:
                raise ValueError(f"unknown board {b!r}; known: {sorted(known)}")
            b = known[b]
        if not isinstance(b, Board):
            raise TypeError(f"boards must be tinydtl.devices.Board objects or board names, got {type(b).__name__}")
        resolved.append(b)
    return resolved


def device_capacity(board, n_features: int, *, batch_size: int = 32, usable_sram_fraction: float | None = None,
                    weights_per_problem: int | None = None) -> int:
    """How many trained binary linear classifiers ``board`` can hold while training the next one.

    Training needs the :func:`tinydtl.devices.profile` of a ``n_features → 1`` dense layer with the
    momentum optimizer and ``batch_size`` samples (weights, gradients, one momentum buffer, the
    activations and the input batch, float32); every finished classifier waiting in the
    accumulation buffer needs ``(n_features + 1) × 4`` bytes (``weights_per_problem × 4`` if given).
    With ``S`` = usable SRAM (``usable_sram_fraction`` of the board's, default
    ``tinydtl.devices.ASSUMPTIONS.usable_sram_fraction``; the rest is stack, RTOS and radio), the capacity is
    ``floor((S − training) / ((n_features + 1) × 4))``, 0 when training alone does not fit.
    ``board``: a :class:`tinydtl.devices.Board` or a board name.
    """
    (board,) = resolve_boards([board])
    check_int("n_features", n_features, 1)
    check_int("batch_size", batch_size, 1)
    usable_sram_fraction = usable_fraction(usable_sram_fraction)  # None: the package's assumption
    if weights_per_problem is not None:
        check_int("weights_per_problem", weights_per_problem, 1)
    prof = profile(mlp_layers([n_features, 1]), optimizer="momentum", batch_size=batch_size, comm_buffers=0,
                   name="binary logistic regression")
    fit = fits(prof, board, usable_sram_fraction=usable_sram_fraction)
    per = payload_bytes(weights_per_problem if weights_per_problem is not None else n_features + 1)
    free = fit.sram_available - fit.sram_needed
    return max(0, free // per) if fit.flash_headroom >= 0 else 0


def per_device(name: str, values, n: int) -> np.ndarray:
    """``values`` (None: all 1) as ``n`` numbers in (0, 1], each checked by name (bools refused)."""
    if values is None:
        return np.ones(n)
    values = list(values) if np.ndim(values) == 1 else values
    if not isinstance(values, list) or len(values) != n:
        raise ValueError(f"{name} must have one entry per board ({n}), got shape {np.shape(values)}")
    for k, v in enumerate(values):
        check_number(f"{name}[{k}]", v, low=0, high=1, low_open=True)
    return np.asarray(values, dtype=float)


def make_devices(boards, n_features: int, *, qualities=None, availability=None, flops_per_cycle: float | None = None,
                 batch_size: int = 32, usable_sram_fraction: float | None = None, max_capacity: int | None = None,
                 seed=None) -> list[Device]:
    """Devices from a list of :class:`tinydtl.devices.Board` (or board names, read by :func:`tinydtl.devices.load_boards`).

    Speed: ``clock_hz × flops_per_cycle`` (default ``tinydtl.devices.ASSUMPTIONS.flops_per_cycle``);
    capacity: :func:`device_capacity` with ``usable_sram_fraction`` (default
    ``tinydtl.devices.ASSUMPTIONS.usable_sram_fraction``). ``qualities`` and
    ``availability`` default to 1; ``max_capacity`` caps what a device accepts per round. Raises
    ValueError naming a device that cannot hold even one binary classifier. Nothing here is random:
    ``seed`` has no effect and is deprecated (it will be removed in tinydtl 0.3).
    """
    if seed is not None:
        warnings.warn("make_devices(seed=...) has no effect (making devices draws nothing at random) and will be "
                      "removed in tinydtl 0.3", DeprecationWarning, stacklevel=2)
    resolved = resolve_boards(boards)
    if not resolved:
        raise ValueError("boards must list at least one board")
    n = len(resolved)
    qualities = per_device("qualities", qualities, n)
    availability = per_device("availability", availability, n)
    if flops_per_cycle is None:
        flops_per_cycle = assumptions.ASSUMPTIONS.flops_per_cycle
    check_number("flops_per_cycle", flops_per_cycle, low=0, low_open=True)
    usable_sram_fraction = usable_fraction(usable_sram_fraction)
    if max_capacity is not None:
        check_int("max_capacity", max_capacity, 1)
    devices = []
    for k, (board, q, a) in enumerate(zip(resolved, qualities, availability)):
        cap = device_capacity(board, n_features, batch_size=batch_size, usable_sram_fraction=usable_sram_fraction)
        if max_capacity is not None:
            cap = min(cap, max_capacity)
        speed = board.clock_hz * flops_per_cycle
        devices.append(Device(f"device {k}", board.name, int(cap), speed, float(a), float(q)))
    check_devices(devices)
    return devices


def check_devices(devices) -> None:
    """Every device must be able to hold at least one binary classifier and compute at a positive speed."""
    if not devices:
        raise ValueError("devices must list at least one Device")
    for d in devices:
        if not isinstance(d, Device):
            raise TypeError(f"devices must be tinydtl.papers.globe2train.fleet.Device objects, got {type(d).__name__}")
        check_int(f"{d.name}: capacity", d.capacity, 0)
        if d.capacity < 1:
            raise ValueError(
                f"{d.name} ({d.board}) has no capacity: it cannot hold a single binary classifier "
                "while training (capacity must be >= 1; pick a larger board or fewer features)"
            )
        check_number(f"{d.name}: flops", d.flops, low=0, low_open=True)
        check_number(f"{d.name}: availability", d.availability, low=0, high=1, low_open=True)
        check_number(f"{d.name}: quality", d.quality, low=0, high=1, low_open=True)


def problem_costs(y_codes, pairs, n_features: int, epochs: int) -> np.ndarray:
    """Floating-point operations to train each binary problem: ``epochs × n_ij × (d + 1) × 6``.

    ``n_ij`` is the number of samples of classes ``i`` and ``j``; per sample and weight SGD with
    momentum does a multiply-add forward, one backward and one momentum update (≈ 6 flops,
    :data:`FLOPS_PER_SAMPLE_WEIGHT`).
    """
    check_int("n_features", n_features, 1)
    check_int("epochs", epochs, 1)
    return epochs * pair_sizes(y_codes, pairs).astype(float) * (n_features + 1) * FLOPS_PER_SAMPLE_WEIGHT


def problem_data_bytes(y_codes, pairs, n_features: int, feature_bytes: int) -> np.ndarray:
    """Bytes of each binary problem's training data: ``n_ij × (n_features × feature_bytes + 1)``.

    ``n_ij`` is the number of samples of classes ``i`` and ``j``; each sample is its ``n_features``
    values of ``feature_bytes`` bytes each (4: float32, 1: uint8 pixels) and a one-byte label. Every
    sample belongs to ``K − 1`` problems, so shipping every problem its data moves the training set
    ``K − 1`` times.
    """
    return pair_sizes(y_codes, pairs) * sample_bytes(n_features, feature_bytes)


def sample_bytes(n_features: int, feature_bytes: int) -> int:
    """Bytes of one training sample sent over the network: ``n_features × feature_bytes`` + a 1-byte label."""
    check_int("n_features", n_features, 1)
    check_int("feature_bytes", feature_bytes, 1)
    return int(n_features) * int(feature_bytes) + 1


def pair_sizes(y_codes, pairs) -> np.ndarray:
    """``n_ij`` of every problem ``(i, j)``: the samples of classes ``i`` and ``j`` (int64)."""
    counts = np.bincount(np.asarray(y_codes), minlength=int(np.max(pairs)) + 1)
    return (counts[pairs[:, 0]] + counts[pairs[:, 1]]).astype(np.int64)


def check_costs(costs, name: str = "costs") -> np.ndarray:
    """``costs`` as a 1-D float array of finite numbers ``>= 0`` (flops, bytes, ...), checked by name."""
    costs = check_finite_array(name, costs, ndim=1)
    if costs.size and costs.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {costs.min()!r} at index {int(costs.argmin())}")
    return costs


def check_online(online, n_devices: int) -> list[int]:
    """``online`` (None: every device) as a list of device indices in ``[0, n_devices − 1]``."""
    if online is None:
        return list(range(n_devices))
    online = list(online)
    for k in online:
        check_int("online device", k, 0)
        if k >= n_devices:
            raise ValueError(f"online device {k!r} is not a device index in [0, {n_devices - 1}]")
    return [int(k) for k in online]


def assign_problems(pending, costs, devices, online=None, *, data_bytes=None, links=None) -> dict[int, list[int]]:
    """Capacity-aware greedy assignment of ``pending`` problems to the devices ``online``.

    Longest problem first (LPT); each goes to the online device with spare capacity that would
    finish it earliest, ties to the lower device index. Problem ``p`` keeps device ``k`` busy for
    ``cost_p / speed_k`` seconds (speed includes availability), plus, when ``links``
    (:class:`tinydtl.networks.netsim.Link` per device) and ``data_bytes`` are given, the time to receive its
    data, :meth:`tinydtl.networks.netsim.Link.expected_seconds` (latency, congestion, bandwidth and expected
    retransmissions) — so devices on poor networks get less to do.
    A device receives at most ``capacity`` problems (it must hold all of them until they are sent).
    Problems that find no device stay unassigned (the next round takes them).

    Returns ``{device index: [problem indices in training order]}``.
    """
    check_devices(devices)
    costs = check_costs(costs)
    pending = [int(p) for p in pending]
    if any(not 0 <= p < len(costs) for p in pending):
        raise ValueError(f"pending must hold problem indices in [0, {len(costs) - 1}], got {sorted(pending)}")
    online = check_online(online, len(devices))
    extra = np.zeros((len(costs), len(devices)))
    if links is not None and data_bytes is not None:
        db = check_costs(data_bytes, "data_bytes")
        for k in online:
            extra[:, k] = links[k].expected_seconds(db)
    load = {k: 0.0 for k in online}
    plan: dict[int, list[int]] = {k: [] for k in online}
    for p in sorted(pending, key=lambda p: (-costs[p], p)):
        best, best_t = None, np.inf
        for k in online:
            if len(plan[k]) >= devices[k].capacity:
                continue
            t = load[k] + costs[p] / devices[k].speed + extra[p, k]
            if t < best_t:
                best, best_t = k, t
        if best is not None:
            plan[best].append(p)
            load[best] = best_t
    return {k: v for k, v in plan.items() if v}
