import os

import numpy as np
import pytest

from tinydtl.aggregation import CumulativeFedAvg, StoreAllAggregator
from tinydtl.datasets import make_sphere
from tinydtl.ilvq import ILVQ
from tinydtl.mcu import Layer, fit_table, fits, largest_mlp_width, load_boards, mlp_layers, profile, tflite_size

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def softmax_keras():
    from tinydtl.federated import keras_model

    return keras_model()


@pytest.fixture(scope="module")
def boards():
    return load_boards()


def test_boards_file(boards):
    assert {"Arduino Nano 33 BLE Sense", "ESP32", "ESP32-S3", "STM32F746 Discovery", "STM32H743",
            "Raspberry Pi Pico", "Arduino Uno", "TI MSP430FR5994"} <= set(boards)
    assert boards["Arduino Uno"].sram_bytes == 2048
    assert boards["Arduino Nano 33 BLE Sense"].sram_bytes == 256 * 1024
    assert all(b.source for b in boards.values())


def test_survey_softmax_learner_exact_bytes(softmax_keras):
    p = profile(softmax_keras, optimizer="sgd", batch_size=1)
    assert p.parameters == 7850
    assert p.weights_bytes == 31_400 == sum(w.numpy().nbytes for w in softmax_keras.weights)
    assert p.gradients_bytes == 31_400 and p.optimizer_bytes == 0
    assert p.input_bytes == 784 * 4
    assert p.activations_bytes == (10 + 10) * 4  # logits kept for backprop + one error buffer
    assert p.communication_bytes == 2 * 31_400
    assert p.sram_bytes == 31_400 * 4 + 784 * 4 + 80
    assert p.largest_component == "communication"
    adam = profile(softmax_keras, optimizer="adam")
    assert adam.optimizer_bytes == 2 * 31_400


def test_int8_and_inference(softmax_keras):
    p = profile(softmax_keras, dtype="int8", training=False, comm_buffers=0)
    assert p.weights_bytes == 7840 + 40 * 1  # int8 weights + int32 biases: 7840 + 10*4
    assert p.components()["weights"] == 0 and p.flash_bytes == 7880  # inference: weights in flash
    assert p.activations_bytes == 784 + 10


def test_tflite_cross_check(softmax_keras):
    """TFLite's own converter: flatbuffer = the weights we count + a small overhead."""
    int8 = tflite_size(softmax_keras, int8=True)
    f32 = tflite_size(softmax_keras, int8=False)
    assert 0 < int8 - profile(softmax_keras, dtype="int8").weights_bytes < 4096
    assert 0 < f32 - profile(softmax_keras).weights_bytes < 4096


def test_numpy_weights_match_nbytes():
    rng = np.random.default_rng(0)
    ws = [rng.random((784, 64), dtype=np.float32), np.zeros(64, np.float32),
          rng.random((64, 10), dtype=np.float32), np.zeros(10, np.float32)]
    p = profile(ws)
    assert p.weights_bytes == sum(w.nbytes for w in ws)
    assert p.parameters == 784 * 64 + 64 + 64 * 10 + 10
    assert p == profile(mlp_layers([784, 64, 10]), name="numpy weights")


def test_aggregation_matches_what_the_aggregators_allocate(softmax_keras):
    weights = [w.numpy() for w in softmax_keras.weights]
    store, cum = StoreAllAggregator(), CumulativeFedAvg(np.float32)
    for _ in range(10):
        store.add(weights, 1)
        cum.add(weights, 1)
    assert profile(softmax_keras, aggregation="store_all", neighbours=10).aggregation_bytes == store.nbytes
    assert profile(softmax_keras, aggregation="cumulative", neighbours=10).aggregation_bytes == cum.nbytes
    assert profile(softmax_keras, aggregation="cumulative", neighbours=100).aggregation_bytes == cum.nbytes


def test_ilvq_profile_matches_its_arrays():
    X, y = make_sphere(500, seed=0)
    clf = ILVQ(random_state=0).fit(X, y)
    p = profile(clf, dtype="float64", training=False, comm_buffers=0)
    assert p.parameters == clf.prototypes_.size
    assert p.weights_bytes == clf.prototypes_.nbytes + clf.n_prototypes_  # + one label byte each
    t = profile(clf, dtype="float32")
    assert t.weights_bytes == clf.prototypes_.size * 4 + clf.n_prototypes_ * (1 + 4) + len(clf.edges_) * 5


def test_the_survey_learner_with_10_neighbours(softmax_keras, boards):
    """Issue 5's question: which boards can train it with FedAvg-style aggregation of 10 neighbours?"""
    store = profile(softmax_keras, aggregation="store_all", neighbours=10)
    cum = profile(softmax_keras, aggregation="cumulative", neighbours=10)
    nano = boards["Arduino Nano 33 BLE Sense"]
    assert not fits(store, nano).fits and fits(cum, nano).fits
    assert not fits(cum, boards["Arduino Uno"]).fits
    table = fit_table({"store": store, "cumulative": cum}, boards)
    assert table.loc["cumulative", "ESP32"] == pytest.approx((boards["ESP32"].sram_bytes - cum.sram_bytes) / 1024)


def test_largest_mlp_width_is_the_boundary(boards):
    b = boards["Raspberry Pi Pico"]
    kw = dict(optimizer="momentum", aggregation="cumulative", neighbours=10)
    h = largest_mlp_width(b, **kw)
    assert h > 1
    assert fits(profile(mlp_layers([784, h, 10]), **kw), b).fits
    assert not fits(profile(mlp_layers([784, h + 1, 10]), **kw), b).fits
    assert largest_mlp_width(boards["Arduino Uno"], **kw) == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dtype="float16"), "dtype must be one of"),
        (dict(optimizer="rmsprop"), "optimizer must be one of"),
        (dict(aggregation="median"), "aggregation must be one of"),
        (dict(aggregation="store_all"), "needs neighbours >= 1"),
        (dict(batch_size=0), "batch_size must be an integer >= 1"),
        (dict(neighbours=-1), "neighbours must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        profile(mlp_layers([784, 10]), **kwargs)


def test_bad_models_and_files(tmp_path):
    with pytest.raises(ValueError, match="must be dense layers"):
        profile([np.zeros((3, 4)), np.zeros(5)])
    with pytest.raises(TypeError, match="model must be a Keras model"):
        profile("model")
    bad = tmp_path / "b.toml"
    bad.write_text('[boards."X"]\nmcu = "m"\ncore = "c"\nclock_hz = 1\nsram_bytes = -5\nflash_bytes = 1\nsource = "s"\n')
    with pytest.raises(ValueError, match="board 'X': sram_bytes must be a positive integer"):
        load_boards(bad)
    with pytest.raises(ValueError, match=r"usable_sram_fraction must be in \(0, 1\]"):
        fits(profile(mlp_layers([4, 2])), load_boards()["ESP32"], usable_sram_fraction=0)
    assert Layer("d", 6, 2, 2).parameters == 8
