"""tinydtl: distributed TinyML, taught by running it.

The package is layered (``docs/architecture.md``): ``core`` (the simulation loop, history, plans,
aggregation, transforms, the byte rule, input checks), ``learners``, ``networks``, ``devices``,
``data``, ``algorithms`` (the trainers), ``papers`` (each reproduced paper's own code) and ``lab``
(claims, reproduction, sweeps, widgets, the command line). ``runtime`` holds what the suite needs
from its environment (TensorFlow start-up, stray processes, repository paths).
"""

from tinydtl import legacy as _legacy

__version__ = "0.2.0"

_legacy.install()
