"""The device assumptions every lesson shares: how much SRAM a learner may use, the memory unit, radio rates.

A datasheet's SRAM figure is not all the learner's. On a real device the stack, the RTOS (or the
bare-metal runtime and heap), the radio stack and its packet buffers live in the same SRAM: Nordic's
SoftDevice S140 reserves several KiB up to tens of KiB depending on the connections it serves,
Zephyr's or FreeRTOS' kernel objects and thread stacks a few KiB more, and the radio's DMA buffers
sit there too. This package therefore lets a learner use **75 %** of a board's SRAM by default
(:attr:`DeviceAssumptions.usable_sram_fraction`); every verdict (:func:`tinydtl.devices.fits`,
:func:`tinydtl.devices.fit_table`, :func:`tinydtl.devices.largest_mlp_width`, RockNet's cost table)
uses it unless it is given another fraction explicitly.

**Units.** Memory is counted in bytes and printed in KiB, 1 KiB = 1,024 B (:func:`kib`). Datasheets
write the same unit as "KB": the nRF52840's "256 KB" is 262,144 B = 256 KiB.

**Compute speed: cycles per operation** (one assumption for every lesson). Lesson 06 runs the C
training step of the survey's learner on an emulated Cortex-M4F and counts its instructions: about **12
instructions per multiply-accumulate** (forward and backward, loads, stores, loop overhead and the
update included; :attr:`DeviceAssumptions.instructions_per_op`). A Cortex-M4 retires most instructions
in **1 cycle** (:attr:`DeviceAssumptions.cycles_per_instruction`; loads and VFP multiply-adds take more,
so 1 is a lower bound). Lesson 06 turns its measured instruction counts into time with
``cycles_per_instruction``; lesson 08, which counts operations (adds, compares, multiply-accumulates)
instead of running code, uses their product :attr:`DeviceAssumptions.cycles_per_op` (12 cycles per
operation); lesson 09, which counts floating-point operations (a multiply-accumulate is two), uses
:attr:`DeviceAssumptions.flops_per_cycle` ``= 2 / cycles_per_op`` (1/6 flop per cycle). Lesson 06 checks
that its emulated count stays near ``instructions_per_op``. The figure scales every algorithm's compute
time alike, so it never reorders two algorithms' compute; it does move the balance between compute and
radio time, which is why it is one number for every lesson.

**Radio bit rates** are named by radio (:attr:`DeviceAssumptions.radios`), each with its source. The
rate a board's currents are quoted at is in ``data/boards.toml`` (``radio_bitrate_bps``); the named
rates here agree with it (the tests check that every board's rate is one of them).

Change one number here and every lesson that uses :data:`ASSUMPTIONS` follows; a lesson that wants
another fraction passes ``usable_sram_fraction=`` explicitly (and says why).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tinydtl.core.validation import check_int, check_number

__all__ = ["ASSUMPTIONS", "FLOPS_PER_MAC", "KIB", "RADIOS", "DeviceAssumptions", "RadioRate", "kib", "usable_fraction",
           "usable_sram_bytes"]

#: Bytes in one KiB, the memory unit of every print, table and plot label.
KIB = 1024

#: Floating-point operations in one multiply-accumulate (a multiply and an add).
FLOPS_PER_MAC = 2


@dataclass(frozen=True)
class RadioRate:
    """A radio's on-air bit rate (bit/s) and where the figure comes from."""

    name: str
    bitrate_bps: int
    source: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        check_int("bitrate_bps", self.bitrate_bps, 1)
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"radio {self.name!r}: source must be a non-empty string, got {self.source!r}")


#: The radios the lessons use.
RADIOS = (
    RadioRate("BLE 1M", 1_000_000,
              "Bluetooth LE 1M PHY (Bluetooth Core Specification 5, Vol 6 Part A); Nordic Semiconductor, nRF52840 "
              "Product Specification v1.7, sec. 1 Key features (Bluetooth 5: 2 Mbps, 1 Mbps, 500 kbps, 125 kbps). "
              "data/boards.toml quotes the nRF52840's and the ESP32's radio currents at this rate"),
    RadioRate("IEEE 802.15.4", 250_000,
              "IEEE Std 802.15.4, 2.4 GHz O-QPSK PHY (250 kb/s); Nordic Semiconductor, nRF52840 Product "
              "Specification v1.7, sec. 1 Key features (IEEE 802.15.4-2006: 250 kbps). Lesson 05's air time"),
)


@dataclass(frozen=True)
class DeviceAssumptions:
    """What the package assumes about every device unless told otherwise.

    Attributes
    ----------
    usable_sram_fraction : float in (0, 1]
        Share of a board's SRAM the learner may use (default 0.75: stack, RTOS, radio stack and its
        buffers take the rest; see the module docstring).
    radios : tuple of RadioRate
        On-air bit rates by radio name, with sources.
    cycles_per_instruction : float > 0
        Clock cycles per executed instruction on a Cortex-M4F (default 1.0, a lower bound).
    instructions_per_op : float > 0
        Instructions per multiply-accumulate (or add, compare) of compiled C training code, from lesson
        06's emulated Cortex-M4F (default 12.0).
    KIB : int (class constant)
        Bytes per KiB (1,024), the memory unit of prints and tables.
    """

    usable_sram_fraction: float = 0.75
    radios: tuple[RadioRate, ...] = RADIOS
    cycles_per_instruction: float = 1.0
    instructions_per_op: float = 12.0
    KIB: ClassVar[int] = KIB

    def __post_init__(self):
        check_number("usable_sram_fraction", self.usable_sram_fraction, low=0, high=1, low_open=True)
        check_number("cycles_per_instruction", self.cycles_per_instruction, low=0, low_open=True)
        check_number("instructions_per_op", self.instructions_per_op, low=0, low_open=True)
        if not isinstance(self.radios, tuple) or not all(isinstance(r, RadioRate) for r in self.radios):
            raise TypeError(f"radios must be a tuple of RadioRate, got {self.radios!r}")

    @property
    def cycles_per_op(self) -> float:
        """Cycles per counted operation: ``instructions_per_op × cycles_per_instruction`` (12.0 by default)."""
        return self.instructions_per_op * self.cycles_per_instruction

    @property
    def flops_per_cycle(self) -> float:
        """Floating-point operations per cycle, for time estimated from a flop count: a multiply-accumulate is
        :data:`FLOPS_PER_MAC` (2) flops taking :attr:`cycles_per_op` cycles, so ``2 / cycles_per_op`` (1/6)."""
        return FLOPS_PER_MAC / self.cycles_per_op

    def bitrate_bps(self, radio: str) -> int:
        """The on-air bit rate of ``radio`` (a name in :attr:`radios`, e.g. ``"BLE 1M"``)."""
        for r in self.radios:
            if r.name == radio:
                return r.bitrate_bps
        raise ValueError(f"radio must be one of {[r.name for r in self.radios]}, got {radio!r}")

    def usable_sram_bytes(self, sram_bytes: int) -> int:
        """Bytes of ``sram_bytes`` the learner may use: ``int(sram_bytes × usable_sram_fraction)``."""
        return usable_sram_bytes(sram_bytes, self.usable_sram_fraction)

    @staticmethod
    def kib(nbytes):
        """``nbytes`` in KiB (÷ 1,024); numbers, numpy arrays and pandas objects alike."""
        return kib(nbytes)


#: The package's defaults. ``ASSUMPTIONS.usable_sram_fraction`` is 0.75, ``ASSUMPTIONS.cycles_per_op`` 12.0
#: (12 instructions per operation × 1 cycle per instruction), ``ASSUMPTIONS.flops_per_cycle`` 2/12.
ASSUMPTIONS = DeviceAssumptions()


def kib(nbytes):
    """``nbytes`` in KiB (1 KiB = 1,024 B). A number gives a float; arrays and pandas objects divide elementwise."""
    if isinstance(nbytes, (numbers.Number, np.bool_)):
        check_number("nbytes", nbytes, low=-np.inf)
        return float(nbytes) / KIB
    return nbytes / KIB


def usable_fraction(value=None) -> float:
    """``value`` checked to lie in (0, 1]; ``None`` gives ``ASSUMPTIONS.usable_sram_fraction``."""
    if value is None:
        return ASSUMPTIONS.usable_sram_fraction
    check_number("usable_sram_fraction", value, low=0, high=1, low_open=True)
    return float(value)


def usable_sram_bytes(sram_bytes: int, fraction=None) -> int:
    """Bytes of ``sram_bytes`` a learner may use: ``int(sram_bytes × fraction)`` (``fraction`` defaults
    to ``ASSUMPTIONS.usable_sram_fraction``)."""
    check_int("sram_bytes", sram_bytes, 1)
    return int(sram_bytes * usable_fraction(fraction))
