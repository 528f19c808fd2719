"""Import TensorFlow (and TensorFlow Federated) without their start-up noise, and nothing else hidden.

TensorFlow 2.14's C++ runtime prints a fixed set of lines when it is first imported on a machine
without a GPU: oneDNN and CPU-feature notices, "Could not find cuda drivers", three "Unable to register
cuDNN/cuFFT/cuBLAS factory" lines (logged at ERROR level although nothing is wrong) and "Could not find
TensorRT". A student reads them as errors. Raising ``TF_CPP_MIN_LOG_LEVEL`` to 3 would also hide real
errors, so :func:`import_tensorflow` instead captures the process's standard error (file descriptor 2,
which the C++ code writes to) while importing, drops exactly the lines matching :data:`STARTUP_NOISE`,
and writes every other line back to standard error.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

__all__ = ["STARTUP_NOISE", "filtered_stderr", "import_tensorflow"]

#: Start-up lines of TensorFlow 2.14 / TFF 0.87 on a CPU-only machine (matched anywhere in the line).
STARTUP_NOISE = tuple(
    re.compile(p)
    for p in (
        r"oneDNN custom operations are on",
        r"Could not find cuda drivers on your machine",
        r"Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register factory for plugin cu\w+ when one has already been registered",
        r"This TensorFlow binary is optimized to use available CPU instructions",
        r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags",
        r"TF-TRT Warning: Could not find TensorRT",
    )
)


def _is_noise(line: str, patterns) -> bool:
    return any(p.search(line) for p in patterns)


@contextlib.contextmanager
def filtered_stderr(patterns=STARTUP_NOISE):
    """Capture file descriptor 2 for the block; afterwards re-emit every line not matching ``patterns``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [
                line
                for line in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not _is_noise(line, patterns)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow(federated: bool = False):
    """``import tensorflow`` (and ``tensorflow_federated`` if ``federated``) with the start-up noise dropped.

    Returns the module (``tensorflow_federated`` when ``federated``). Later imports are free: Python
    caches the modules, and the noise is printed only once per process.
    """
    with filtered_stderr():
        import tensorflow as tf

        if federated:
            import tensorflow_federated as tff

            return tff
    return tf
