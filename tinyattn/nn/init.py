"""Weight initialisers. Each fills a Tensor's data in place (keeping its dtype), marks it modified (see
``Tensor.version``: a graph recorded before cannot be backpropagated through) and returns the Tensor.

Fans follow tinyattn's (in, out) weight layout: for a weight of shape (fan_in, fan_out), or more generally
(fan_in, ..., fan_out) with the middle axes counted in both. Every initialiser draws from `rng` (a
``np.random.Generator``; None for the default that ``tinyattn.manual_seed`` sets).
"""
import math

import numpy as np

from tinyattn.errors import ShapeError
from tinyattn.random import generator

#: The gain for a weight followed by a relu, sqrt(2): the relu zeroes half the variance (He et al., 2015).
RELU_GAIN = math.sqrt(2.0)


def fans(shape):
    """(fan_in, fan_out) of a weight of `shape` laid out (in, ..., out)."""
    if len(shape) < 2:
        raise ShapeError(f"fans need a weight of at least 2 dimensions, got shape {tuple(shape)}")
    receptive = math.prod(shape[1:-1])
    return shape[0] * receptive, shape[-1] * receptive


def _fill(tensor, values):
    tensor.data[...] = values.astype(tensor.data.dtype, copy=False)
    return tensor.mark_modified()


def uniform_(tensor, low=0.0, high=1.0, rng=None):
    return _fill(tensor, generator(rng).uniform(low, high, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    return _fill(tensor, generator(rng).normal(mean, std, tensor.shape))


def zeros_(tensor):
    return _fill(tensor, np.zeros(()))


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fans(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fans(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(tensor, gain=RELU_GAIN, mode="fan_in", rng=None):
    """U(-a, a), a = gain * sqrt(3 / fan), fan = fan_in or fan_out (He et al., 2015); gain sqrt(2) suits relu."""
    fan = fans(tensor.shape)[0 if mode == "fan_in" else 1]
    bound = gain * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(tensor, gain=RELU_GAIN, mode="fan_in", rng=None):
    """N(0, std^2), std = gain / sqrt(fan) (He et al., 2015)."""
    fan = fans(tensor.shape)[0 if mode == "fan_in" else 1]
    return normal_(tensor, 0.0, gain / math.sqrt(fan), rng)


def orthogonal_(tensor, gain=1.0, rng=None):
    """A (semi-)orthogonal matrix times `gain` (Saxe et al., 2014): for recurrent weights, whose repeated products
    then neither explode nor vanish at the start of training. Leading axes are flattened into rows."""
    rows = tensor.shape[0] if tensor.ndim > 1 else 1
    columns = tensor.size // rows
    flat = generator(rng).standard_normal((max(rows, columns), min(rows, columns)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))  # a uniformly random orthogonal matrix, not one biased by QR's sign convention
    if rows < columns:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
