"""The primitive operations: each a forward and its vector-Jacobian products side by side.

Grouped by kind: elementwise, reduce, softmax (softmax, log_softmax, logsumexp), loss (cross_entropy), normalization
(layer_norm), recurrent (GRU and LSTM cells and sequences), linalg, shape, index, and logic (the operations without
a gradient). ``tinyattn.primitive.REGISTRY`` lists every differentiable one by name.
"""
from tinyattn.ops.elementwise import (
    abs, add, astype, clip, exp, log, masked_fill, maximum, minimum, mul, neg, power, relu, sigmoid, sqrt, sub,
    tanh, truediv, where,
)
from tinyattn.ops.index import embedding, gather, getitem, take
from tinyattn.ops.linalg import matmul
from tinyattn.ops.logic import argmax, argmin, compare, logical_not
from tinyattn.ops.loss import binary_cross_entropy_with_logits, cross_entropy
from tinyattn.ops.normalization import layer_norm
from tinyattn.ops.reduce import max, mean, min, sum, var
from tinyattn.ops.recurrent import gru_cell, gru_sequence, lstm_cell, lstm_sequence
from tinyattn.ops.softmax import log_softmax, logsumexp, softmax
from tinyattn.ops.shape import broadcast_to, concatenate, expand_dims, reshape, squeeze, stack, swapaxes, transpose
