"""tinydtl 0.1's flat module paths keep working for one release, with a DeprecationWarning.

``tests/legacy_api.json`` lists every public name each old module had (read from its ``__all__`` before
the move); each must still be reachable through the old path, and importing the old path must warn.
"""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path

import pytest

from tinydtl.legacy import MOVED

OLD_API = json.loads((Path(__file__).parent / "legacy_api.json").read_text())
# names that were aliases of the one History type, or helpers folded into others, and are gone on purpose
REMOVED = {
    "federated": {"FedHistory", "local_sgd", "evaluate", "keras_model", "TFFEngine", "N_FEATURES", "N_CLASSES",
                  "RoundPlan", "plan_round", "preprocess", "rounds_to_reach"},
    "decentralized": {"DecentralizedHistory"},
    "distributed_ilvq": {"ExchangeHistory"},
    "split_learning": {"SplitHistory"},
    "models": {"check_parts"},
    "aggregation": {"aggregate_updates", "AGGREGATOR_NAMES"},
    "compression": {"FLOAT32_BYTES"},
    # their source gave the answers away: the checks are now nbgrader hidden tests in coursework/source
    "assignments": {"Grader", "check_metropolis", "check_consensus_rate", "check_cumulative_fedavg",
                    "check_partitioner", "check_breaks_fedavg"},
}


def fresh_import(name):
    for key in [k for k in sys.modules if k == name]:
        del sys.modules[key]
    return importlib.import_module(name)


@pytest.mark.parametrize("old", sorted(OLD_API))
def test_old_path_warns_and_keeps_its_public_names(old):
    assert old in MOVED
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = fresh_import(f"tinydtl.{old}")
    assert any(issubclass(w.category, DeprecationWarning) and f"tinydtl.{old} is deprecated" in str(w.message)
               for w in caught)
    missing = [n for n in OLD_API[old] if n not in REMOVED.get(old, set()) and not hasattr(module, n)]
    assert missing == []


def test_renamed_functions_warn_and_call_the_new_ones():
    from tinydtl.algorithms import decentralized, fedavg, split, swarm

    for alias, new in [(fedavg.fedavg, fedavg.run_fedavg), (fedavg.centralized, fedavg.run_centralized),
                       (decentralized.decentralized_train, decentralized.run_decentralized),
                       (split.split_train, split.run_split_learning), (swarm.swarm_history, swarm.run_swarm_consensus)]:
        assert new.__name__ in alias.__doc__
    import numpy as np

    with pytest.warns(DeprecationWarning, match="use tinydtl.algorithms.swarm.run_swarm_consensus"):
        swarm.swarm_history(np.zeros((2, 3, 2)), 0.5, np.arange(3.0))
