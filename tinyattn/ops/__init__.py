"""The primitive operations: each a forward and its vector-Jacobian products side by side.

Grouped by kind: elementwise, reduce, softmax (softmax, log_softmax, logsumexp), loss (cross_entropy), normalization
(layer_norm), recurrent (GRU and LSTM cells and sequences), linalg, shape, index, and logic (the operations without
a gradient). ``tinyattn.primitive.REGISTRY`` lists every differentiable one by name.
"""
from tinyattn.ops.attention import fused_attention
from tinyattn.ops.elementwise import (
    abs,
    add,
    astype,
    clip,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    power,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    truediv,
    where,
)
from tinyattn.ops.glimpse import glimpse
from tinyattn.ops.index import embedding, gather, getitem, take
from tinyattn.ops.linalg import matmul
from tinyattn.ops.logic import argmax, argmin, compare, logical_not
from tinyattn.ops.loss import binary_cross_entropy_with_logits, cross_entropy
from tinyattn.ops.normalization import layer_norm
from tinyattn.ops.recurrent import gru_cell, gru_sequence, lstm_cell, lstm_sequence
from tinyattn.ops.reduce import max, mean, min, sum, var
from tinyattn.ops.shape import broadcast_to, concatenate, expand_dims, reshape, squeeze, stack, swapaxes, transpose
from tinyattn.ops.softmax import log_softmax, logsumexp, softmax

__all__ = [
    "abs", "add", "argmax", "argmin", "astype", "binary_cross_entropy_with_logits", "broadcast_to", "clip", "compare",
    "concatenate", "cross_entropy", "embedding", "exp", "expand_dims", "fused_attention", "gather", "getitem",
    "glimpse", "gru_cell", "gru_sequence", "layer_norm", "log", "log_softmax", "logical_not", "logsumexp", "lstm_cell",
    "lstm_sequence",
    "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "neg", "power", "relu", "reshape", "sigmoid",
    "softmax", "sqrt", "squeeze", "stack", "sub", "sum", "swapaxes", "take", "tanh", "transpose", "truediv", "var",
    "where",
]
