"""Weight initializers (Keras 3 names, formulas and defaults).  Strings work too: 'glorot_uniform', 'he_normal', ..."""
from .base import Initializer, compute_fans, get
from .constant import Constant, Ones, Zeros
from .random import RandomNormal, RandomUniform, TruncatedNormal
from .variance_scaling import (GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform,
                               VarianceScaling)

# Keras's lower-case aliases: keras.initializers.glorot_uniform() etc.
zeros, ones, constant = Zeros, Ones, Constant
random_uniform, random_normal, truncated_normal = RandomUniform, RandomNormal, TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal
lecun_uniform, lecun_normal = LecunUniform, LecunNormal

__all__ = ["Initializer", "get", "compute_fans", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal",
           "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
           "LecunUniform", "LecunNormal"]
