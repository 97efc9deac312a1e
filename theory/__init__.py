"""theory: SymPy derivations of posterior collapse in linear VAEs.

The single source of truth for every formula of the toolkit.  Start from a
model factory and derive::

    from theory import derive, learnable_encoder_variance
    d = derive(learnable_encoder_variance())
    d.optimum.active["kl"]        # log(lambda/(beta*sigma2))/2
"""

from theory.conditional import ConditionalVAE, conditional_vae, derive_conditional
from theory.decoder_variance import (
    DecoderVarianceDerivation,
    decoder_variance_models,
    derive_decoder_variance,
)
from theory.derivation import QUANTITIES, Derivation, ModeDerivation, PairingRule, derive
from theory.hierarchical import HierarchicalVAE, derive_hierarchical, hierarchical_vae
from theory.model import (
    ENCODER_VARIANCES,
    LinearVAE,
    all_models,
    fixed_anisotropic_encoder_variance,
    fixed_encoder_variance,
    learnable_encoder_variance,
    linear_vae,
)

__all__ = [
    "ENCODER_VARIANCES",
    "QUANTITIES",
    "ConditionalVAE",
    "DecoderVarianceDerivation",
    "Derivation",
    "HierarchicalVAE",
    "LinearVAE",
    "ModeDerivation",
    "PairingRule",
    "all_models",
    "conditional_vae",
    "decoder_variance_models",
    "derive",
    "derive_conditional",
    "derive_decoder_variance",
    "derive_hierarchical",
    "fixed_anisotropic_encoder_variance",
    "fixed_encoder_variance",
    "hierarchical_vae",
    "learnable_encoder_variance",
    "linear_vae",
]
