"""Time and energy of a step of work on a board, from its datasheet figures.

A step is some CPU cycles and some radio bytes. Time: ``cycles / clock_hz`` for the CPU, ``8 × bytes
/ radio_bitrate_bps`` for the radio (payload only: no packet headers, acknowledgements, retries or
radio ramp-up, so a lower bound); CPU and radio are not overlapped. Energy: current × voltage × time,
with the currents of ``data/boards.toml`` (:class:`tinydtl.devices.boards.Board`). Where the board
file gives no current, the energy is ``None``: never a guessed number.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinydtl.core.validation import check_int, check_number
from tinydtl.devices.boards import Board, as_board

__all__ = ["BITS_PER_BYTE", "Cost", "step_cost"]

BITS_PER_BYTE = 8


@dataclass(frozen=True)
class Cost:
    """Time (s) and energy (J) of one step on a board. ``*_j`` and ``joules`` are ``None`` when the
    board's file gives no current for that part (never a guessed number)."""

    compute_s: float
    radio_s: float
    seconds: float
    compute_j: float | None
    radio_j: float | None
    joules: float | None


def _cycles(cycles, macs, cycles_per_mac):
    """The step's CPU cycles, from ``cycles`` or from ``macs × cycles_per_mac`` (checked)."""
    if cycles is not None and macs is not None:
        raise ValueError("give cycles or macs (with cycles_per_mac), not both")
    if macs is not None:
        check_number("macs", macs, low=0)
        if cycles_per_mac is None:
            raise ValueError("cycles_per_mac must be given with macs (a number > 0: cycles one multiply-accumulate "
                             "takes on this core, e.g. measured with tinydtl.devices.emulate)")
        check_number("cycles_per_mac", cycles_per_mac, low=0, low_open=True)
        cycles = macs * cycles_per_mac
    elif cycles_per_mac is not None:
        raise ValueError("cycles_per_mac is only used with macs")
    cycles = 0 if cycles is None else cycles
    check_number("cycles", cycles, low=0)
    return cycles


def _energy(parts, voltage):
    """Σ time × current × voltage over ``(time, current)`` parts; 0 when nothing ran, ``None`` when a
    part that ran has no current (or there is no voltage)."""
    if all(t == 0 for t, _ in parts):
        return 0.0
    if voltage is None or any(i is None for t, i in parts if t):
        return None
    return sum(t * i for t, i in parts if t) * voltage


def step_cost(board: Board | str, *, cycles=None, macs=None, cycles_per_mac=None, tx_bytes=0, rx_bytes=0,
              voltage=None) -> Cost:
    """Time and energy of a step of work on ``board`` (a :class:`Board` or a board's name).

    Compute: ``cycles`` CPU cycles (or ``macs`` multiply-accumulates × ``cycles_per_mac``; give one
    of the two) take ``cycles / clock_hz`` seconds and draw the CPU run current
    (:attr:`Board.cpu_current_a`). Radio: ``tx_bytes`` and ``rx_bytes`` take ``8 × bytes /
    radio_bitrate_bps`` seconds at the radio's TX/RX current (payload only: no packet headers,
    acknowledgements, retries or radio ramp-up, so a lower bound). CPU and radio are not overlapped:
    ``seconds = compute_s + radio_s``. Energy = current × ``voltage`` × time, ``voltage`` defaulting
    to the board's ``supply_v`` (the voltage its currents are quoted at); the CPU's current during
    radio activity is not added (the datasheet's radio figures are whole-chip currents with the
    CPU idle).
    """
    board = as_board(board)
    cycles = _cycles(cycles, macs, cycles_per_mac)
    check_int("tx_bytes", tx_bytes, 0)
    check_int("rx_bytes", rx_bytes, 0)
    if voltage is None:
        voltage = board.supply_v
    if voltage is not None:
        check_number("voltage", voltage, low=0, low_open=True)

    compute_s = cycles / board.clock_hz
    if tx_bytes or rx_bytes:
        if board.radio_bitrate_bps is None:
            raise ValueError(f"board {board.name!r} has no radio_bitrate_bps in the board file; "
                             f"tx_bytes and rx_bytes must be 0")
        tx_s = BITS_PER_BYTE * tx_bytes / board.radio_bitrate_bps
        rx_s = BITS_PER_BYTE * rx_bytes / board.radio_bitrate_bps
    else:
        tx_s = rx_s = 0.0
    radio_s = tx_s + rx_s
    compute_j = _energy([(compute_s, board.cpu_current_a)], voltage)
    radio_j = _energy([(tx_s, board.radio_tx_current_a), (rx_s, board.radio_rx_current_a)], voltage)
    joules = None if compute_j is None or radio_j is None else compute_j + radio_j
    return Cost(compute_s, radio_s, compute_s + radio_s, compute_j, radio_j, joules)
