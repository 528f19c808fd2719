"""TensorFlow's start-up lines are dropped; every other line written to standard error still appears."""

import subprocess
import sys

from tinydtl.runtime.tensorflow_env import STARTUP_NOISE, filtered_stderr


def test_filter_drops_only_the_known_lines(capfd):
    import os

    with filtered_stderr():
        os.write(2, b"2026-01-01 00:00:00: E tensorflow/compiler/xla/stream_executor/cuda/cuda_dnn.cc:9342] "
                    b"Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN when one "
                    b"has already been registered\n")
        os.write(2, b"E real/error.cc:1] Something is genuinely wrong\n")
    err = capfd.readouterr().err
    assert "Unable to register" not in err
    assert "Something is genuinely wrong" in err


def test_importing_tensorflow_through_tinydtl_is_quiet():
    code = "from tinydtl.runtime.tensorflow_env import import_tensorflow; tf = import_tensorflow(federated=True); print(tf.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "tensorflow_federated"
    noisy = [line for line in out.stderr.splitlines() if any(p.search(line) for p in STARTUP_NOISE)]
    assert noisy == []
    for phrase in ("cuDNN", "cuda drivers", "TensorRT", "oneDNN"):
        assert phrase not in out.stderr


def test_tflite_conversion_is_quiet_but_real_errors_show(capfd):
    """The converter's routine lines (saved-model INFO, "Ignored output_format", the quantiser's settings,
    the int8 statistics warning, "Assets written to") are dropped; anything else written meanwhile stays."""
    code = ("import logging; logging.basicConfig();"
            "from tinydtl.devices import keras_mlp, tflite_size; m = keras_mlp([784, 10]);"
            "print(tflite_size(m, int8=True), tflite_size(m, int8=False))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["9176", "32536"]  # int8 and float32 flatbuffers of the 784-10 softmax learner
    assert out.stderr.strip() == "", out.stderr
    import os

    from tinydtl.runtime.tensorflow_env import quiet_converter

    with quiet_converter():
        os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8\n")
        os.write(2, b"E tensorflow/lite/converter.cc:1] Conversion genuinely failed\n")
    err = capfd.readouterr().err
    assert "fully_quantize" not in err and "Conversion genuinely failed" in err
