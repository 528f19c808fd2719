"""The flat module paths of tinydtl 0.1 (``tinydtl.federated``, ``tinydtl.mcu``, ...), for one release.

``import tinydtl.federated`` still works: it warns with a :class:`DeprecationWarning` naming the new
path and gives a module whose public names are those of the new modules (a thin re-export; nothing
is copied or kept in two places). The table below is the only place the old names live; lessons,
tests, benchmarks and docs use the new paths. Planned removal: tinydtl 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__all__ = ["MOVED", "install"]

#: old module (under ``tinydtl.``) -> the module(s) that hold its public names now
MOVED: dict[str, tuple[str, ...]] = {
    "_validation": ("tinydtl.core.validation",),
    "history": ("tinydtl.core.history",),
    "plans": ("tinydtl.core.plans",),
    "simulation": ("tinydtl.core.simulation",),
    "aggregation": ("tinydtl.core.aggregation",),
    "robust": ("tinydtl.core.robust",),
    "transforms": ("tinydtl.core.transforms",),
    "compression": ("tinydtl.core.compression",),
    "communication": ("tinydtl.core.traffic", "tinydtl.networks.transport"),
    "processes": ("tinydtl.runtime.processes",),
    "tensorflow_env": ("tinydtl.runtime.tensorflow_env",),
    "models": ("tinydtl.learners.softmax", "tinydtl.core.validation"),
    "mlp": ("tinydtl.learners.mlp",),
    "ilvq": ("tinydtl.learners.ilvq",),
    "rocket": ("tinydtl.learners.minirocket", "tinydtl.learners.minirocket_kernels"),
    "quantized_adam": ("tinydtl.learners.quantized_adam",),
    "topology": ("tinydtl.networks.topology",),
    "gossip": ("tinydtl.networks.gossip",),
    "netsim": ("tinydtl.networks.netsim",),
    "mobility": ("tinydtl.networks.mobility", "tinydtl.algorithms.swarm"),
    "mcu": ("tinydtl.devices",),
    "mcu_emulate": ("tinydtl.devices.emulate",),
    "federated": ("tinydtl.algorithms.fedavg",),
    "decentralized": ("tinydtl.algorithms.decentralized", "tinydtl.algorithms.dk_means", "tinydtl.networks.topology"),
    "split_learning": ("tinydtl.algorithms.split",),
    "distributed_ilvq": ("tinydtl.algorithms.ilvq_exchange",),
    "sgd_baselines": ("tinydtl.papers.globe2train.sgd_baselines",),
    "adaptive": ("tinydtl.papers.adaptive_tau",),
    "edge_network": ("tinydtl.papers.adaptive_tau.edge_network",),
    "rocknet": ("tinydtl.papers.rocknet.classifier", "tinydtl.papers.rocknet.device"),
    "rocknet_cost": ("tinydtl.papers.rocknet.cost",),
    "ovo": ("tinydtl.papers.globe2train",),
    "g2t": ("tinydtl.papers.globe2train.g2t",),
    "datasets": ("tinydtl.data.datasets",),
    "partition": ("tinydtl.data.partition",),
    "claims": ("tinydtl.lab.claims",),
    "reproduce": ("tinydtl.lab.reproduce",),
    "widgets": ("tinydtl.lab.widgets",),
    "plots": ("tinydtl.lab.plots",),
    "evaluation": ("tinydtl.lab.evaluation",),
    # the check_* functions and the Grader became the hidden tests of coursework/ (nbgrader); see the README
    "assignments": ("tinydtl.lab.exercises", "tinydtl.lab.grading"),
    "cli": ("tinydtl.lab.cli",),
    "sweep": ("tinydtl.lab.sweep",),
    "sweep_grid": ("tinydtl.lab.sweep.grid",),
    "sweep_points": ("tinydtl.lab.sweep.points",),
}


class _LegacyModule(types.ModuleType):
    """A module whose attributes are looked up in the new modules, in order."""

    def __init__(self, name: str, targets: tuple[str, ...]):
        super().__init__(name, f"Deprecated: use {' / '.join(targets)}.")
        self.__targets = targets

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        for target in self.__targets:
            module = importlib.import_module(target)
            if hasattr(module, attr) and not attr.startswith("_"):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r} (moved to {' / '.join(self.__targets)})")

    def __dir__(self):
        names = set()
        for target in self.__targets:
            names.update(n for n in dir(importlib.import_module(target)) if not n.startswith("_"))
        return sorted(names)


class _LegacyLoader(importlib.abc.Loader):
    def __init__(self, targets):
        self.targets = targets

    def create_module(self, spec):
        if len(self.targets) == 1:
            target = importlib.import_module(self.targets[0])  # the same module object: patching still works
            self.target_spec = target.__spec__  # the import system overwrites __spec__; exec_module restores it
            return target
        return _LegacyModule(spec.name, self.targets)

    def exec_module(self, module):
        if getattr(self, "target_spec", None) is not None:
            module.__spec__ = self.target_spec


class _LegacyFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, old = fullname.partition(".")
        if prefix != "tinydtl" or old not in MOVED:
            return None
        targets = MOVED[old]
        warnings.warn(f"tinydtl.{old} is deprecated and will be removed in tinydtl 0.3: import from "
                      f"{' / '.join(targets)} instead", DeprecationWarning, stacklevel=2)
        return importlib.util.spec_from_loader(fullname, _LegacyLoader(targets))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _LegacyFinder) for f in sys.meta_path):
        sys.meta_path.append(_LegacyFinder())
