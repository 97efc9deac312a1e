"""How a sweep is trained: one configuration object with the checks both trainers share.

A :class:`TrainingConfig` holds everything about the optimisation that is not the
model - seeds, steps, minibatch size, step size and its schedule, warm start, KL
warm-up, minibatch order, progress - and checks it once, in one place, with the same
messages for both trainers.  Each trainer has its own defaults (its step size is in
its own units), given as a ``TrainingConfig`` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from numerics.core._validation import (
    InputError,
    check_choice,
    check_fraction,
    check_int,
    check_positive,
    check_seeds,
)

#: Step-size schedules: the step size at progress u in [0, 1] as a fraction of ``lr``
#: (:func:`numerics.training._loop.lr_factor`).
SCHEDULES = ("constant", "cosine", "linear", "exponential")
#: Optimisers of the training loop: Adam (Kingma & Ba 2015) or plain gradient descent
#: (the step is ``lr`` times the gradient), where the linearised dynamics of
#: :mod:`theory.dynamics` hold exactly.
OPTIMIZERS = ("adam", "gd")


@dataclass(frozen=True)
class TrainingConfig:
    """The optimisation of a sweep (not the model).

    Attributes
    ----------
    seeds : tuple of int
        One run per seed at every sweep point; seed r initialises and then draws its
        reparameterisation noise from ``np.random.default_rng(r)``, shared by all sweep
        points (common random numbers).
    steps : int
        Optimisation steps of the sweep phase.
    batch_size : int
        Minibatch rows (at most the data's; a fresh permutation every epoch, from
        ``np.random.default_rng([batch_seed, 1])``, shared by all points).
    lr : float
        First step size, in the trainer's parameter units (Adam moves each parameter by
        about ``lr``; gradient descent by ``lr`` times its gradient).
    optimizer : {"adam", "gd"}
        Adam, or plain gradient descent (:data:`OPTIMIZERS`).
    schedule : {"constant", "cosine", "linear", "exponential"}
        Takes the step size from ``lr`` down to ``lr * lr_min`` at the last step of
        each phase.
    lr_min : float
        Ratio of the last step size to the first, in [0, 1].
    warm_start : bool
        Train an anchor (the smallest sigma'^2, every seed) for ``anchor_steps`` first,
        then start every sweep point from its seed's anchor (fresh Adam state).
    anchor_steps : int
        Steps of the anchor phase.
    kl_warmup : int
        Steps of KL annealing in the first phase (the anchor with a warm start, else
        the sweep): the KL weight rises linearly from ``kl_warmup_from * beta`` to beta.
    kl_warmup_from : float
        Starting fraction of the KL weight, in [0, 1].
    beta : float
        The KL weight (1: the plain negative ELBO).
    batch_seed : int
        Seed of the minibatch order.
    progress : bool
        Show a progress bar (if tqdm is installed).
    """

    seeds: tuple[int, ...] = (0,)
    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    lr_min: float = 1.0
    warm_start: bool = False
    anchor_steps: int = 2000
    kl_warmup: int = 0
    kl_warmup_from: float = 1.0
    beta: float = 1.0
    batch_seed: int = 0
    progress: bool = True

    def checked(self, n_samples: int) -> TrainingConfig:
        """This configuration with every field checked (InputError) and the batch clamped."""
        steps = check_int("steps", self.steps, 1)
        anchor_steps = check_int("anchor_steps", self.anchor_steps, 1)
        first_phase = anchor_steps if self.warm_start else steps
        kl_warmup = check_int("kl_warmup", self.kl_warmup, 0)
        if kl_warmup > first_phase:
            raise InputError(
                f"kl_warmup={kl_warmup!r}: expected at most the {first_phase} steps of the first "
                "phase (else the KL weight never reaches beta)"
            )
        return replace(
            self,
            seeds=check_seeds(self.seeds),
            steps=steps,
            batch_size=min(check_int("batch_size", self.batch_size, 1), n_samples),
            lr=check_positive("lr", self.lr),
            optimizer=check_choice("optimizer", self.optimizer, OPTIMIZERS),
            schedule=check_choice("schedule", self.schedule, SCHEDULES),
            lr_min=check_fraction("lr_min", self.lr_min),
            warm_start=bool(self.warm_start),
            anchor_steps=anchor_steps,
            kl_warmup=kl_warmup,
            kl_warmup_from=check_fraction("kl_warmup_from", self.kl_warmup_from),
            beta=check_positive("beta", self.beta),
            batch_seed=check_int("batch_seed", self.batch_seed, 0),
            progress=bool(self.progress),
        )

    def record(self) -> dict[str, Any]:
        """JSON-ready record of the optimisation (for a sweep's ``options``)."""
        out = asdict(self)
        out["seeds"] = list(self.seeds)
        out.pop("progress")
        if not self.warm_start:
            out["anchor_steps"] = 0
        return out


def configure(
    defaults: TrainingConfig,
    overrides: dict[str, Any],
    gd_lr: Callable[[], float] | None = None,
) -> TrainingConfig:
    """``defaults`` with the given fields replaced (None keeps the default).

    A trainer's default step size is Adam's.  With ``optimizer="gd"`` and no ``lr``, the
    step is ``gd_lr()`` (the linear VAE derives a stable one from its Hessians) with a
    constant schedule unless one is given; a trainer that derives none (``gd_lr`` None)
    needs ``lr``: Adam's default would be meaningless as a factor of the gradient.
    """
    fields = set(TrainingConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise InputError(f"unknown training option(s) {unknown}: expected some of {sorted(fields)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    if given.get("optimizer") == "gd" and "lr" not in given:
        if gd_lr is None:
            raise InputError(
                "optimizer='gd' without lr: expected a step size (--lr) for this model, "
                "which derives no stable gradient-descent step"
            )
        given = {"schedule": "constant", "lr_min": 1.0, **given, "lr": gd_lr()}
    return replace(defaults, **given)
