"""Training: linear and MLP VAEs trained in NumPy over whole sweeps at once.

One loop (``_loop``) serves both trainers (``_linear``, ``_mlp``); ``_transitions``
measures the critical points of a trained sweep and ``_measure`` sets them next to the
prediction; ``_protocols`` holds published experimental protocols.  Layer above
:mod:`numerics.spectra`, :mod:`numerics.data` and :mod:`numerics.core`.
"""

from numerics.training._decoder_variance import (
    LearnedSweep,
    LearnedTrainingReport,
    train_and_measure_learned,
    train_learned_variance_sweep,
)
from numerics.training._linear import train_linear_sweep
from numerics.training._loop import TrainingDiverged
from numerics.training._measure import TrainingReport, train_and_measure
from numerics.training._mlp import train_mlp_sweep
from numerics.training._protocols import follow_up_protocol
from numerics.training._sweep import ACTIVE_KL, SweepResult
from numerics.training._transitions import MeasuredTransition, measure_transitions

__all__ = [
    "ACTIVE_KL",
    "LearnedSweep",
    "LearnedTrainingReport",
    "MeasuredTransition",
    "SweepResult",
    "TrainingDiverged",
    "TrainingReport",
    "follow_up_protocol",
    "measure_transitions",
    "train_and_measure",
    "train_and_measure_learned",
    "train_learned_variance_sweep",
    "train_linear_sweep",
    "train_mlp_sweep",
]
