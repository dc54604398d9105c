"""Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers"): how much each output
position of a stack of self-attention layers draws on each input position, read from the attention weights alone.

One layer's weights say how a position mixes the positions of the layer below; through a residual connection it
also keeps itself. Rollout folds both into one matrix per layer and multiplies the matrices through the stack:

    A_l  = reduce over heads of layer l's weights           (mean by default; max or min)
    A'_l = (A_l + I) / rowsum(A_l + I)                      (= 0.5 A_l + 0.5 I when the rows of A_l sum to one)
    R    = A'_L ... A'_2 A'_1                               (the last layer on the left)

so R[i, j] is the share of input position j in output position i, and each row of R sums to one. Weights are
read, not differentiated: NumPy arrays in and out.
"""
import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.primitive import as_array

__all__ = ["attention_rollout"]

HEAD_REDUCTIONS = {"mean": np.mean, "max": np.max, "min": np.min}


def attention_rollout(weights, residual=True, head_reduction="mean"):
    """The attention rollout R = A'_L ... A'_1 of L self-attention layers (Abnar & Zuidema, 2020).

    For each layer the heads are reduced to one (T, T) matrix A (`head_reduction`: "mean", as in the paper, "max"
    or "min"); with `residual` (the paper's choice, for the residual connection around each attention layer) the
    identity is added and the rows are renormalised, A' = (A + I) / rowsum(A + I), which is 0.5 A + 0.5 I when the
    rows of A sum to one (softmax weights averaged over heads); without it A' = A / rowsum(A). A row that sums to
    zero (a fully masked query, without `residual`) is left at zero. The layers are then multiplied with the last
    layer on the left: R[i, j] is how much output position i of the top layer draws on input position j of the
    bottom layer. Rows of R sum to one (or zero where a layer's row was zero).

    weights: L layers, as a list of L arrays (B, H, T, T) or (H, T, T) of one shape, or one array
    (L, B, H, T, T) or (L, H, T, T); NumPy arrays, nested lists or Tensors (their ``.data``). Each layer's
    weights are query-by-key: row i is query i's distribution over the T keys (self-attention, so Tq = Tk = T).
    Returns R as a NumPy array (B, T, T), or (T, T) for layers given without a batch axis; float32 stays float32,
    other numbers give float64.
    Errors: ShapeError for layers of other shapes or of different shapes, non-square weights or no layers,
    DTypeError for non-numbers, ValueError for NaN, inf, negative weights or an unknown `head_reduction`.
    """
    where = "attention_rollout"
    if head_reduction not in HEAD_REDUCTIONS:
        raise ValueError(f"{where}: head_reduction must be one of {sorted(HEAD_REDUCTIONS)}; got {head_reduction!r}")
    layers, batched = _as_layers(weights, where)
    size = layers.shape[-1]
    per_layer = HEAD_REDUCTIONS[head_reduction](layers, axis=2)  # (L, B, H, T, T) -> (L, B, T, T)
    if residual:
        per_layer = per_layer + np.eye(size, dtype=per_layer.dtype)
    totals = per_layer.sum(axis=-1, keepdims=True)  # (L, B, T, 1)
    per_layer = per_layer / np.where(totals > 0, totals, 1)
    rollout = per_layer[0]  # (B, T, T)
    for layer in per_layer[1:]:
        rollout = layer @ rollout  # a later layer mixes what the layers below have mixed: it goes on the left
    return rollout if batched else rollout[0]


def _as_layers(weights, where):
    """The weights as one float array (L, B, H, T, T), and whether they came with a batch axis."""
    if isinstance(weights, (list, tuple)):
        if not weights:
            raise ShapeError(f"{where}: no layers; weights must hold at least one layer (B, H, T, T) or (H, T, T)")
        layers = [_as_float(layer, where, f"layer {index}") for index, layer in enumerate(weights)]
        for index, layer in enumerate(layers):
            if layer.ndim not in (3, 4) or layer.shape != layers[0].shape:
                raise ShapeError(f"{where}: every layer must be (B, H, T, T) or (H, T, T), all of one shape; got "
                                 f"layer {index} of shape {layer.shape} and layer 0 of shape {layers[0].shape}")
        array = np.stack(layers)  # L * (B, H, T, T) -> (L, B, H, T, T)
    else:
        array = _as_float(weights, where, "weights")
        if array.ndim not in (4, 5):
            raise ShapeError(f"{where}: weights must be an array (L, B, H, T, T) or (L, H, T, T), or a list of L "
                             f"layers (B, H, T, T) or (H, T, T); got an array of shape {array.shape}")
    if array.shape[-1] != array.shape[-2] or array.size == 0:
        raise ShapeError(f"{where}: each layer's weights must be square and not empty (T queries by T keys, "
                         f"self-attention); got weights of shape (layers, ...) {array.shape}")
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{where}: weights must be finite and non-negative; found {array[index]} at index "
                         f"(layer, ...) {index} of weights of shape {array.shape}")
    batched = array.ndim == 5
    return (array if batched else array[:, np.newaxis]), batched  # (L, H, T, T) -> (L, 1, H, T, T)


def _as_float(values, where, name):
    """A float array from an array, nested lists or a Tensor: float32 stays float32, other numbers become float64."""
    try:
        array = as_array(values)
    except ValueError as error:  # NumPy refuses ragged nested lists
        raise ShapeError(f"{where}: {name} must be rectangular; got ragged nested sequences") from error
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"{where}: {name} must be numbers (bool, int or float); got dtype {array.dtype} "
                         f"of shape {array.shape}")
    return array.astype(np.float32 if array.dtype == np.float32 else np.float64, copy=False)
