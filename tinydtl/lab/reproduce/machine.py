"""The machine a run happened on (CPU, cores, memory, OS, Python), for the results' provenance."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

__all__ = ["available_cores", "machine_info"]


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask): what a run can really use, e.g. the
    default number of local sweep workers."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def machine_info() -> dict:
    """CPU model, cores, memory, OS and Python of this machine (for the results' provenance)."""
    cpu = platform.processor() or platform.machine()
    memory_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        memory_gb = round(kb / 2**20, 1)
    return {
        "cpu": cpu,
        "cores": available_cores(),
        "memory_gb": memory_gb,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
