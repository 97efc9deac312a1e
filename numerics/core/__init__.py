"""The core: the one bridge from theory objects to numbers, and what it evaluates.

Layer above :mod:`theory` and below everything else in :mod:`numerics`.  The bridge
(``_bridge``) is the only module that turns SymPy expressions into callables; the
optimum, thresholds and maps (``_optimum``, ``_maps``) and the index of every aligned
stationary point (``_landscape``) evaluate them for a concrete model (``_model``); ``_validation``
holds every input check and the :class:`InputError` they raise.
"""

from numerics.core._conditional import (
    conditional_map,
    conditional_optimum,
    conditional_thresholds,
)
from numerics.core._decoder_variance import (
    BetaThresholdResult,
    LearnedMap,
    LearnedOptimum,
    LearnedState,
    learned_map,
    learned_optimum,
    learned_thresholds,
)
from numerics.core._hierarchical import (
    hierarchical_map,
    hierarchical_optimum,
    hierarchical_phase_diagram,
    hierarchical_thresholds,
    resolve_hierarchical,
)
from numerics.core._landscape import Block, StationaryPoint, stationary_point, stationary_points
from numerics.core._maps import (
    CriticalPoint,
    MapResult,
    OneSidedValues,
    PhaseDiagram,
    collapse_map,
    jump_summary,
    phase_diagram,
)
from numerics.core._model import Model, resolve_model
from numerics.core._optimum import (
    ModeOptimum,
    OptimumResult,
    ThresholdResult,
    optimum,
    thresholds,
)
from numerics.core._validation import InputError

__all__ = [
    "BetaThresholdResult",
    "Block",
    "CriticalPoint",
    "InputError",
    "LearnedMap",
    "LearnedOptimum",
    "LearnedState",
    "MapResult",
    "ModeOptimum",
    "Model",
    "OneSidedValues",
    "OptimumResult",
    "PhaseDiagram",
    "StationaryPoint",
    "ThresholdResult",
    "collapse_map",
    "conditional_map",
    "conditional_optimum",
    "conditional_thresholds",
    "hierarchical_map",
    "hierarchical_optimum",
    "hierarchical_phase_diagram",
    "hierarchical_thresholds",
    "jump_summary",
    "learned_map",
    "learned_optimum",
    "learned_thresholds",
    "optimum",
    "phase_diagram",
    "resolve_hierarchical",
    "resolve_model",
    "stationary_point",
    "stationary_points",
    "thresholds",
]
