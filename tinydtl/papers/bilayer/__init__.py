"""The bilayer-gossip paper (arXiv 2501.04817) under its authors' own configuration.

* :mod:`~tinydtl.papers.bilayer.presets` — :class:`SwarmConfig`, the presets :data:`LESSON` and
  :data:`AUTHORS`, the ablation between them and what cannot be reproduced;
* :mod:`~tinydtl.papers.bilayer.features` — the frozen feature extractor (our stand-in for MCUNet);
* :mod:`~tinydtl.papers.bilayer.experiment` — a configuration and its CFL baseline at one seed, and the
  ablation of extra rounds over CFL;
* :mod:`~tinydtl.papers.bilayer.results` — the authors' own stored accuracy lists.

The trainers themselves live in :mod:`tinydtl.algorithms.decentralized` (schemes ``"bilayer"`` and
``"one_hop"``) and :mod:`tinydtl.learners.head`.
"""

from tinydtl.papers.bilayer.experiment import (
    SwarmData,
    ablation_table,
    extra_rounds,
    run_ablation,
    run_cfl,
    run_swarm,
    summarise,
)
from tinydtl.papers.bilayer.features import FrozenFeatures
from tinydtl.papers.bilayer.results import AUTHORS_LISTS, authors_lists_table
from tinydtl.papers.bilayer.presets import (
    ABLATION,
    AUTHORS,
    LESSON,
    NOT_REPRODUCED,
    SwarmConfig,
    ablation_path,
    switched_back,
)

__all__ = ["ABLATION", "AUTHORS", "AUTHORS_LISTS", "FrozenFeatures", "LESSON", "NOT_REPRODUCED", "SwarmConfig", "SwarmData",
           "ablation_path", "ablation_table", "authors_lists_table", "extra_rounds", "run_ablation", "run_cfl", "run_swarm", "summarise",
           "switched_back"]
