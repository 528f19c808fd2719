"""The input contract of the bilayer paper's parts: one-hop averaging, moving devices, the random-direction
model, per-device initial models, the dense head, the presets, the frozen features and the ablation runner.

Every row is a call, the exception it must raise and a pattern the message must match (it names the parameter,
what it got or what is allowed). The functions and arguments are new with these checks (there is no earlier
behaviour to compare with), so the rows pin the contract from the start.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from tinydtl.algorithms.decentralized import run_decentralized
from tinydtl.learners.functional import DivergenceError
from tinydtl.learners.head import DenseHead, RowAdam
from tinydtl.networks.mobility import random_direction
from tinydtl.networks.transport import MovingDevices, one_hop_average
from tinydtl.papers.bilayer import (
    LESSON,
    FrozenFeatures,
    SwarmConfig,
    authors_lists_table,
    extra_rounds,
    switched_back,
)
from tinydtl.papers.bilayer.experiment import stop_at

rng = np.random.default_rng(0)
X = rng.integers(0, 256, size=(40, 784), dtype=np.uint8)
Y = np.arange(40) % 10
PARTS = [np.arange(0, 20), np.arange(20, 40)]
STILL = MovingDevices(np.zeros((3, 2, 2)), 1.0)
A2 = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))


def decentral(**kw):
    return lambda: run_decentralized(X, Y, PARTS, rounds=1, **kw)


CASES = [
    # ------------------------------------------------------------------ networks
    ("one-hop weights zero", lambda: one_hop_average(A2, np.eye(2), np.array([1.0, 0.0])), ValueError,
     "weights must be 2 finite numbers > 0"),
    ("one-hop NaN model", lambda: one_hop_average(A2, np.array([[np.nan], [1.0]]), np.ones(2)), ValueError,
     "values must be finite"),
    ("one-hop rows vs devices", lambda: one_hop_average(A2, np.ones((3, 2)), np.ones(3)), ValueError,
     r"values must hold one row per device \(2 rows\)"),
    ("random direction NaN start", lambda: random_direction(np.array([[np.nan, 0.0]]), 2), ValueError,
     "start must be finite"),
    ("random direction 1-D start", lambda: random_direction(np.zeros(2), 2), ValueError, r"start must be finite \(n, 2\)"),
    ("random direction steps 2.5", lambda: random_direction(np.zeros((1, 2)), 2.5), ValueError,
     "steps must be an integer"),
    ("random direction turn 1.5", lambda: random_direction(np.zeros((1, 2)), 2, turn_probability=1.5), ValueError,
     "turn_probability must be a number in"),
    ("random direction side 0", lambda: random_direction(np.zeros((1, 2)), 2, side=0.0), ValueError,
     "side must be a number in"),
    ("random direction speed NaN", lambda: random_direction(np.zeros((1, 2)), 2, speed=float("nan")), ValueError,
     "speed must be a finite number|speed must be a number"),
    # ------------------------------------------------------------------ the trainer
    ("init unknown", decentral(scheme="one_hop", graph=nx.path_graph(2), init="random"), ValueError,
     "init must be one of"),
    ("mobility a plain array", decentral(scheme="one_hop", mobility=np.zeros((3, 2, 2))), TypeError,
     "mobility must be a tinydtl.networks.transport.MovingDevices"),
    ("mobility too short", lambda: run_decentralized(X, Y, PARTS, scheme="one_hop", mobility=STILL, rounds=3),
     ValueError, "mobility holds 2 moves but rounds=3"),
    ("head radius without mobility", decentral(scheme="one_hop", graph=nx.path_graph(2), head_radius=5.0), ValueError,
     "head_radius is for moving devices only"),
    ("head radius 0", decentral(scheme="one_hop", mobility=STILL, head_radius=0.0), ValueError,
     "head_radius must be a number in"),
    ("neither graph nor mobility", decentral(scheme="one_hop"), ValueError, "graph is required .* or mobility"),
    ("moving bilayer without heads", decentral(scheme="bilayer", mobility=STILL), ValueError, "needs clusters"),
    # ------------------------------------------------------------------ the dense head
    ("head one size", lambda: DenseHead((10,)), ValueError, "sizes must be a list or tuple of at least two"),
    ("head width 2.5", lambda: DenseHead((4, 2.5, 3)), ValueError, r"sizes\[1\] must be an integer"),
    ("head one class", lambda: DenseHead((4, 1)), ValueError, r"sizes\[-1\] \(classes\) must be an integer"),
    ("head optimizer", lambda: DenseHead((4, 3), optimizer="rmsprop"), ValueError, "optimizer must be one of"),
    ("head weight init", lambda: DenseHead((4, 3), weight_init="zeros"), ValueError, "weight_init must be one of"),
    ("head weight decay -1", lambda: DenseHead((4, 3), weight_decay=-1.0), ValueError, "weight_decay must be a number"),
    ("head beta1 1", lambda: DenseHead((4, 3), beta1=1.0), ValueError, r"beta1 must be a number in \[0, 1\)"),
    ("head params shape", lambda: DenseHead((4, 3)).evaluate(np.zeros(5), np.zeros((2, 4)), [0, 1]), ValueError,
     r"params must have shape \(15,\)"),
    ("head empty test set", lambda: DenseHead((4, 3)).evaluate(np.zeros(15), np.zeros((0, 4)), []), ValueError,
     "X must hold at least one sample"),
    ("row adam NaN gradient", lambda: RowAdam((1, 2)).step(np.zeros((1, 2), np.float32), np.array([[np.nan, 0.0]])),
     DivergenceError, "gradient became NaN"),
    # ------------------------------------------------------------------ presets, features, runner
    ("config mixing", lambda: SwarmConfig(mixing="flood"), ValueError, "mixing must be one of"),
    ("config 0 devices", lambda: SwarmConfig(n_devices=0), ValueError, "n_devices must be an integer"),
    ("config more clusters than devices", lambda: SwarmConfig(n_devices=3, clusters=4), ValueError,
     r"clusters must be <= n_devices \(3\)"),
    ("config speed -1", lambda: SwarmConfig(speed=-1.0), ValueError, "speed must be a number"),
    ("config hidden list", lambda: SwarmConfig(hidden=[8]), ValueError, "hidden must be a non-empty tuple"),
    ("config init", lambda: SwarmConfig(init="random"), ValueError, "init must be one of"),
    ("config unknown setting", lambda: LESSON.replace(epochs=2), ValueError, "unknown settings"),
    ("switched back unknown step", lambda: switched_back("+ faster radios"), ValueError,
     "label must be one of the ablation's steps"),
    ("features width 0", lambda: FrozenFeatures(0), ValueError, "width must be an integer"),
    ("features lr 0", lambda: FrozenFeatures(4, lr=0.0), ValueError, r"lr must be a number in \(0"),
    ("features before fit", lambda: FrozenFeatures(4).transform(X), ValueError, "call fit"),
    ("stop at 1.5", lambda: stop_at(1.5), ValueError, r"target must be a number in \[0, 1\]"),
    ("extra rounds target NaN", lambda: extra_rounds(None, None, float("nan")), ValueError, "target must be"),
]


@pytest.mark.parametrize("name, call, error, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(name, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_authors_lists_count_like_the_package():
    table = authors_lists_table(0.80)
    assert table.loc["60 devices, range 60", "extra rounds"] == 2
    assert table.loc["30 devices", "DFL rounds to 0.80"] == 4  # its list starts at round 1
    assert table["extra rounds"].notna().all()
