"""Run the device's side of a round on an emulated Cortex-M4F and measure what it really uses.

The C program in ``mcu/softmax_round.c`` does one SGD step of the softmax learner on a batch and
then averages ``neighbours`` received models, either by storing them all (``"store_all"``) or by
Cumulative FedAvg (``"cumulative"``: one running weighted sum). It is sized by compile-time
constants (``-DN_FEATURES=... -DBATCH=... -DNEIGHBOURS=...``) and lays its memory out the way
:func:`tinydtl.devices.memory.profile` models it: persistent weights, and one buffer shared by the train
phase and the exchange phase (a C ``union``).

:func:`emulate_round` builds it with ``arm-none-eabi-gcc`` for the Cortex-M4F (``-mcpu=cortex-m4
-mfloat-abi=hard -mfpu=fpv4-sp-d16``), runs it under ``qemu-system-arm -M mps2-an386`` (an Arm
MPS2 board with a Cortex-M4F) with semihosting, and returns

* the static RAM from the ELF's section headers (``.data`` + ``.bss``);
* the peak stack, by stack painting: the reset handler fills the stack with ``0xDEADBEEF``
  before ``main`` and reports how deep the pattern was overwritten afterwards;
* the weights after the SGD step and after aggregation (checked against :func:`reference_round`,
  the same round in numpy);
* executed instructions per phase. QEMU runs with ``-icount shift=0``, so its virtual clock
  advances exactly 1 ns per executed instruction; the program reads the MPS2's CMSDK timer (25 MHz
  peripheral clock, one tick = 40 ns = 40 instructions) around each phase. Instructions = ticks ×
  40, exact to ±40 per phase. (An execution log with one instruction per translation block is
  exact too but writes one line per executed instruction: millions of lines at full size.)
  The Cortex-M4 executes most instructions in one cycle, loads/stores and VFP multiply-adds in
  more, so instructions are a lower bound on cycles.

:func:`link_check` asks the linker itself: linked into a board's RAM size, does the program fit,
or by how many bytes does ld say the RAM region overflows?

Build artefacts go to a temporary directory (or ``build_dir``), never into the repository. The
data (initial model, the sensor's batch, the radio's messages) are generated here with numpy from
``seed`` and linked into the program's flash with ``.incbin``.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinydtl.core.traffic import payload_bytes
from tinydtl.core.validation import check_bool, check_int, check_number
from tinydtl.devices.memory import MemoryProfile, mlp_layers, profile
from tinydtl.runtime.paths import repo_path

__all__ = [
    "AGGREGATIONS",
    "CFLAGS",
    "EmulatedRound",
    "RoundData",
    "TICK_INSTRUCTIONS",
    "LinkCheck",
    "check_round_size",
    "ToolchainMissing",
    "emulate_round",
    "link_check",
    "make_round_data",
    "predicted_profile",
    "reference_round",
    "section_sizes",
    "source_dir",
    "toolchain_problem",
]

AGGREGATIONS = ("store_all", "cumulative")
CFLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2", "-std=c11",
          "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra")
TICK_INSTRUCTIONS = 40  # MPS2 peripheral clock 25 MHz; -icount shift=0: 1 instruction = 1 ns
OWN_SAMPLES = 100       # the device's own sample count in the weighted average
TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")
EMULATED_RAM_BYTES = 4 << 20    # mps2-an386's SSRAM2/3 at 0x20000000 (mcu/link.ld); the stack reserve is 16 KB
EMULATED_FLASH_BYTES = 4 << 20  # SSRAM1 at 0x0: code and the sensor/radio tables


class ToolchainMissing(RuntimeError):
    """The Arm cross-compiler or QEMU is not installed (Debian: gcc-arm-none-eabi,
    libnewlib-arm-none-eabi, qemu-system-arm)."""


def source_dir() -> Path:
    """The C sources (``mcu/`` at the repository root)."""
    return repo_path("mcu")


def toolchain_problem() -> str | None:
    """``None`` if the emulator can run here, else what is missing and how to install it."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (f"{', '.join(missing)} not found: install the Debian packages gcc-arm-none-eabi, "
                f"libnewlib-arm-none-eabi and qemu-system-arm")
    if not (source_dir() / "softmax_round.c").is_file():
        return f"C sources not found in {source_dir()}"
    return None


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class RoundData:
    """What the device starts from and receives: all float32 (counts uint32, labels uint8)."""

    initial: np.ndarray   # (P,) kernel (features × classes, row-major) then bias
    x: np.ndarray         # (batch, features)
    y: np.ndarray         # (batch,)
    received: np.ndarray  # (neighbours, P)
    counts: np.ndarray    # (neighbours,)
    lr: float
    own_samples: int = OWN_SAMPLES


def check_round_size(n_features, n_classes, batch_size, neighbours, aggregation=None) -> None:
    """Check a round's sizes, and that its flash tables (and, given ``aggregation``, its predicted RAM)
    fit the emulated board, by arithmetic alone: before anything is allocated or built."""
    check_int("n_features", n_features, 1)
    check_int("n_classes", n_classes, 2)
    if n_classes > 256:
        raise ValueError(f"n_classes must be an integer in [2, 256] (labels are uint8), got {n_classes}")
    check_int("batch_size", batch_size, 1)
    check_int("neighbours", neighbours, 1)
    p = n_features * n_classes + n_classes
    tables = (payload_bytes(p) + payload_bytes(batch_size * n_features) + payload_bytes(batch_size, "uint8")
              + payload_bytes(neighbours * p) + payload_bytes(neighbours, "uint32"))
    need = 0 if aggregation is None else predicted_profile(n_features, n_classes, batch_size, neighbours,
                                                           aggregation).sram_bytes
    if need + (16 << 10) > EMULATED_RAM_BYTES or tables + (64 << 10) > EMULATED_FLASH_BYTES:
        ram = "" if aggregation is None else f"about {need:,} B of RAM and "
        raise ValueError(f"this round needs {ram}{tables:,} B of flash tables; the emulated board has "
                         f"{EMULATED_RAM_BYTES:,} B of each: use fewer features, neighbours or a smaller batch")


def make_round_data(n_features=784, n_classes=10, batch_size=1, neighbours=1, *, lr=0.1, seed=0) -> RoundData:
    """Deterministic inputs for one round (same ``seed``, same numbers). Received models are the
    initial model plus noise of scale 0.01, as if neighbours had trained from it. The tables must fit
    the emulated board's flash (:func:`check_round_size`)."""
    check_round_size(n_features, n_classes, batch_size, neighbours)
    check_number("lr", lr, low=0, low_open=True)
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    p = n_features * n_classes + n_classes
    initial = ((rng.random(p) - 0.5) * 0.02).astype(np.float32)
    x = rng.random((batch_size, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, batch_size).astype(np.uint8)
    received = (initial + (rng.random((neighbours, p)) - 0.5) * 0.01).astype(np.float32)
    counts = rng.integers(20, 200, neighbours).astype(np.uint32)
    return RoundData(initial, x, y, received, counts, float(np.float32(lr)))


def reference_round(data: RoundData) -> tuple[np.ndarray, np.ndarray]:
    """The round in numpy (float64 arithmetic on the float32 inputs): (weights after the SGD step,
    weights after the weighted average with the received models), both float32."""
    d = data.x.shape[1]
    c = (data.initial.size) // (d + 1)
    W = data.initial[: d * c].reshape(d, c).astype(np.float64)
    b = data.initial[d * c:].astype(np.float64)
    x = data.x.astype(np.float64)
    z = x @ W + b
    z -= z.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)
    err = prob - np.eye(c)[data.y]
    n = len(x)
    W = W - data.lr * (x.T @ err) / n
    b = b - data.lr * err.sum(axis=0) / n
    trained = np.concatenate([W.ravel(), b]).astype(np.float32)
    weights = np.concatenate([[data.own_samples], data.counts]).astype(np.float64)
    models = np.vstack([trained, data.received]).astype(np.float64)
    averaged = (weights @ models / weights.sum()).astype(np.float32)
    return trained, averaged


def predicted_profile(n_features=784, n_classes=10, batch_size=1, neighbours=1, aggregation="cumulative") -> MemoryProfile:
    """What :func:`tinydtl.devices.memory.profile` predicts for the emulated program (float32, SGD, 2 message buffers)."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got {aggregation!r}")
    return profile(mlp_layers([n_features, n_classes]), dtype="float32", optimizer="sgd", batch_size=batch_size,
                   aggregation=aggregation, neighbours=neighbours, comm_buffers=2,
                   name=f"softmax {n_features}→{n_classes}, batch {batch_size}, {aggregation} {neighbours}")


# ----------------------------------------------------------------------------- build and run
@dataclass(frozen=True)
class EmulatedRound:
    """What the emulated Cortex-M4F measured for one round."""

    config: dict
    data_bytes: int
    bss_bytes: int
    stack_bytes: int
    text_bytes: int
    trained: np.ndarray
    weights: np.ndarray
    instructions: dict = field(default_factory=dict)  # phase -> executed instructions (±TICK_INSTRUCTIONS)
    instructions_traced: dict | None = None            # phase -> exact count (trace=True only)

    @property
    def static_ram_bytes(self) -> int:
        """``.data + .bss`` from the ELF."""
        return self.data_bytes + self.bss_bytes

    @property
    def ram_bytes(self) -> int:
        """Static RAM plus the deepest stack the run touched: the RAM the round needs."""
        return self.static_ram_bytes + self.stack_bytes


def _run(cmd, *, timeout, cwd=None):
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{cmd[0]} did not finish within {timeout} s") from e
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({out.returncode}):\n{out.stderr[-3000:]}{out.stdout[-2000:]}")
    return out.stdout + out.stderr  # QEMU writes semihosting console output to stderr


def _write_blob(data: RoundData, build: Path) -> Path:
    tables = {"initial_model": data.initial, "sensor_x": data.x, "sensor_y": data.y,
              "radio_models": data.received, "radio_counts": data.counts}
    lines = []
    for name, arr in tables.items():
        path = build / f"{name}.bin"
        np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tofile(path)
        lines += ["\t.section .rodata.blob, \"a\"", "\t.balign 4", f"\t.global {name}", f"{name}:",
                  f"\t.incbin \"{path}\""]
    blob = build / "blob.S"
    blob.write_text("\n".join(lines) + "\n")
    return blob


def section_sizes(elf: str | Path) -> dict[str, int]:
    """Section sizes (bytes) from an ELF32 little-endian file's section headers."""
    raw = Path(elf).read_bytes()
    if raw[:4] != b"\x7fELF" or raw[4] != 1 or raw[5] != 1:
        raise ValueError(f"{elf} is not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", raw, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", raw, 0x2E)
    headers = [struct.unpack_from("<IIIIIIIIII", raw, shoff + i * shentsize) for i in range(shnum)]
    strtab_off = headers[shstrndx][4]
    sizes = {}
    for name_off, _type, _flags, _addr, _off, size, *_ in headers:
        end = raw.index(b"\0", strtab_off + name_off)
        sizes[raw[strtab_off + name_off:end].decode()] = size
    return sizes


def emulate_round(n_features=784, n_classes=10, batch_size=1, neighbours=1, aggregation="cumulative", *,
                  lr=0.1, seed=0, timeout=120, build_dir=None, trace=False) -> EmulatedRound:
    """Build and run one round on the emulated Cortex-M4F (see the module docstring).

    ``trace=True`` runs the program a second time with QEMU's execution log (one instruction per
    translation block) and fills :attr:`EmulatedRound.instructions_traced` with exact counts; the
    log has one line per executed instruction, so keep it to small sizes.

    Raises :class:`ToolchainMissing` if the cross-compiler or QEMU is not installed, and
    ``RuntimeError`` (with the tool's output) if the build or the run fails or times out.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got {aggregation!r}")
    check_number("timeout", timeout, low=0, low_open=True)
    check_bool("trace", trace)
    check_round_size(n_features, n_classes, batch_size, neighbours, aggregation)
    data = make_round_data(n_features, n_classes, batch_size, neighbours, lr=lr, seed=seed)
    problem = toolchain_problem()
    if problem:
        raise ToolchainMissing(problem)
    config = dict(n_features=n_features, n_classes=n_classes, batch_size=batch_size, neighbours=neighbours,
                  aggregation=aggregation, lr=lr, seed=seed)
    with tempfile.TemporaryDirectory(prefix="tinydtl-mcu-", dir=build_dir) as tmp:
        build = Path(tmp)
        elf = _build(build, data, aggregation, timeout=timeout)
        sizes = section_sizes(elf)
        qemu = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
                "-semihosting-config", "enable=on,target=native"]
        out = _run([*qemu, "-icount", "shift=0,sleep=off", "-kernel", str(elf)], timeout=timeout)
        result = _parse(out, config, sizes, data.initial.size)
        if trace:
            log = build / "exec.log"
            _run([*qemu, *_one_insn_per_tb(), "-d", "exec,nochain", "-D", str(log), "-kernel", str(elf)], timeout=timeout)
            exact = _traced_phases(log, _symbol_address(elf, "timer_ticks"))
            result = dataclasses.replace(result, instructions_traced=exact)
    return result


def _one_insn_per_tb() -> list[str]:
    """QEMU's option for one guest instruction per translation block: ``-singlestep`` before 8.1,
    ``-accel tcg,one-insn-per-tb=on`` since (``-singlestep`` was deprecated in 8.1)."""
    m = re.search(r"version (\d+)\.(\d+)", _run(["qemu-system-arm", "--version"], timeout=30))
    if m and (int(m[1]), int(m[2])) >= (8, 1):
        return ["-accel", "tcg,one-insn-per-tb=on"]
    return ["-singlestep"]


def _compile_command(build: Path, data: RoundData, aggregation: str, extra=()) -> list[str]:
    src = source_dir()
    n, d = data.received.shape[0], data.x.shape[1]
    c = data.initial.size // (d + 1)
    defines = [f"-DN_FEATURES={d}", f"-DN_CLASSES={c}", f"-DBATCH={data.x.shape[0]}",
               f"-DNEIGHBOURS={n}", f"-DAGG_STORE_ALL={int(aggregation == 'store_all')}",
               f"-DLR={data.lr!r}f", f"-DOWN_SAMPLES={data.own_samples}u"]
    return ["arm-none-eabi-gcc", *CFLAGS, *defines, "--specs=nano.specs", "-nostartfiles", f"-T{src / 'link.ld'}",
            "-Wl,--gc-sections", f"-Wl,-Map={build / 'round.map'}", *extra,
            str(src / "startup.c"), str(src / "device.c"), str(src / "softmax_round.c"),
            str(_write_blob(data, build)), "-lm", "-o", str(build / "round.elf")]


def _build(build: Path, data: RoundData, aggregation: str, *, timeout) -> Path:
    _run(_compile_command(build, data, aggregation), timeout=timeout)
    return build / "round.elf"


@dataclass(frozen=True)
class LinkCheck:
    """The linker's verdict for a RAM size: ``fits``, or by how many bytes the RAM region overflowed."""

    ram_bytes: int
    stack_reserve: int
    fits: bool
    overflow_bytes: int


def link_check(ram_bytes, n_features=784, n_classes=10, batch_size=1, neighbours=1, aggregation="cumulative", *,
               stack_reserve=512, timeout=120, build_dir=None) -> LinkCheck:
    """Ask the linker whether the round fits ``ram_bytes`` of RAM (e.g. a board's ``sram_bytes``) with
    ``stack_reserve`` bytes kept for the stack (the emulated runs use ~130 B; 512 B is the margin the
    tests allow). Builds only, does not run. ld reports ``region `RAM' overflowed by N bytes`` when
    ``.data + .bss + stack_reserve`` exceed ``ram_bytes``."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got {aggregation!r}")
    check_int("ram_bytes", ram_bytes, 1)
    check_int("stack_reserve", stack_reserve, 8)
    check_number("timeout", timeout, low=0, low_open=True)
    data = make_round_data(n_features, n_classes, batch_size, neighbours)
    problem = toolchain_problem()
    if problem:
        raise ToolchainMissing(problem)
    extra = [f"-Wl,--defsym=__ram_size={ram_bytes}", f"-Wl,--defsym=__stack_size={stack_reserve}"]
    with tempfile.TemporaryDirectory(prefix="tinydtl-mcu-", dir=build_dir) as tmp:
        cmd = _compile_command(Path(tmp), data, aggregation, extra)
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"the build did not finish within {timeout} s") from e
    if out.returncode == 0:
        return LinkCheck(ram_bytes, stack_reserve, True, 0)
    m = re.search(r"region `RAM' overflowed by (\d+) bytes", out.stderr)
    if not m:
        raise RuntimeError(f"the build failed for another reason than RAM:\n{out.stderr[-3000:]}")
    return LinkCheck(ram_bytes, stack_reserve, False, int(m[1]))


def _symbol_address(elf: Path, name: str) -> int:
    for line in _run(["arm-none-eabi-nm", str(elf)], timeout=30).splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise RuntimeError(f"symbol {name} not found in {elf}")


def _traced_phases(log: Path, timer_entry: int) -> dict:
    """Exact instruction counts between the program's timer reads, from QEMU's execution log with one
    instruction per translation block (each "Trace" line is one executed instruction)."""
    marks, n = [], 0
    with open(log) as f:
        for line in f:
            if line.startswith("Trace"):
                if int(line.split("[", 1)[1].split("/", 2)[1], 16) == timer_entry:
                    marks.append(n)
                n += 1
    if len(marks) != 5:
        raise RuntimeError(f"expected 5 timer reads in the execution log, found {len(marks)}")
    # t0 sense t1 train t2 (print) t3 exchange t4
    return {"sense": marks[1] - marks[0], "train": marks[2] - marks[1], "exchange": marks[4] - marks[3]}


def _parse(out: str, config: dict, sizes: dict, n_params: int) -> EmulatedRound:
    vectors, scalars = {"trained": [], "model": []}, {}
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in vectors:
            vectors[parts[0]] += [int(h, 16) for h in parts[1:]]
        elif len(parts) == 2 and re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            scalars[parts[0]] = int(parts[1], 16)
        elif parts[0] == "FAULT":
            raise RuntimeError("the emulated program faulted:\n" + out[-2000:])
    as_float = {k: np.array(v, dtype=np.uint32).view(np.float32) for k, v in vectors.items()}
    if any(len(v) != n_params for v in as_float.values()) or "stack" not in scalars:
        raise RuntimeError(f"unexpected output from the emulated program:\n{out[-2000:]}")
    instructions = {k.removeprefix("ticks_"): v * TICK_INSTRUCTIONS for k, v in scalars.items() if k.startswith("ticks_")}
    return EmulatedRound(config=config, data_bytes=sizes.get(".data", 0), bss_bytes=sizes.get(".bss", 0),
                         stack_bytes=scalars["stack"], text_bytes=sizes.get(".text", 0),
                         trained=as_float["trained"], weights=as_float["model"], instructions=instructions)

