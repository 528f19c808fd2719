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

__all__ = ["CONVERTER_NOISE", "GRAPPLER_NOISE", "STARTUP_NOISE", "filtered_stderr", "import_tensorflow", "quiet_converter"]

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


#: What TensorFlow Lite's converter (TF 2.14) prints on every successful conversion: the saved-model
#: loader's INFO lines, two "Ignored ..." option notices and the quantiser's settings line.
CONVERTER_NOISE = tuple(
    re.compile(p)
    for p in (
        r"tf_tfl_flatbuffer_helpers\.cc:\d+\] Ignored (output_format|drop_control_dependency)\.",
        r"\] (Reading SavedModel from|Reading meta graph with tags|Reading SavedModel debug info|"
        r"Restoring SavedModel bundle|Running initialization op on SavedModel bundle|SavedModel load for tags|"
        r"MLIR V1 optimization pass is not enabled|disabling MLIR crash reproducer)",
        r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$",
    )
)


#: What TFF 0.87's executor logs (at ERROR level, although nothing is wrong) when TensorFlow's graph optimiser
#: meets a TFF computation without fetch nodes: "grappler_item_builder.cc:...] Failed to detect the fetch node(s),
#: skipping this input".
GRAPPLER_NOISE = (re.compile(r"grappler_item_builder\.cc:\d+\] Failed to detect the fetch node\(s\), skipping this input"),)


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


@contextlib.contextmanager
def quiet_converter():
    """Run TensorFlow Lite's converter without its routine output, and nothing else hidden.

    Drops the lines of :data:`CONVERTER_NOISE` from file descriptor 2, lowers TensorFlow's Python logger to
    WARNING for the block (its ``INFO: Assets written to: /tmp/...`` line), and ignores the converter's
    "Statistics for quantized inputs were expected" warning, which TF 2.14 gives for every full-integer
    model with int8 inputs even when a representative data set is supplied. Any other line or warning
    still shows.
    """
    import logging
    import warnings

    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings(), filtered_stderr(STARTUP_NOISE + CONVERTER_NOISE):
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected",
                                    category=UserWarning)
            yield
    finally:
        logger.setLevel(level)
