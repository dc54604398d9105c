"""The Hypothesis strategies of the whole test suite (shapes, arrays kept away from kinks, indices, masks, op inputs)
and `projected`, which checks several outputs' gradients in one gradcheck; at the end, the comparisons that more than
one test module makes (an op against the same formula written with other ops, a kernel against its reference).

Every float strategy draws each element on its own (``fill=st.nothing()``): Hypothesis would otherwise fill most of
an array with one repeated value, and a constant upstream gradient hides softmax bugs as ``out.sum()`` does.
Elements are bounded so that a central difference with eps 1e-6 stays far above rounding noise.
"""
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BOUND = 5.0  # default |element| bound, e.g. logits in [-5, 5]
KINK_MARGIN = 1e-3  # distance from a kink: central differences with eps 1e-6 never straddle it


# ----- shapes -----------------------------------------------------------------------------------------------------
def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes: ndim 0..3, sides 1..4."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(count=2, min_dims=0, max_dims=3, max_side=4):
    """`count` mutually broadcastable shapes and their broadcast result (``.input_shapes``, ``.result_shape``)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=count, min_dims=min_dims, max_dims=max_dims, max_side=max_side)


@st.composite
def shapes_broadcastable_to(draw, target):
    """A shape that ``np.broadcast_to`` can expand to `target`: trailing sides of `target`, some replaced by 1."""
    kept = draw(st.integers(0, len(target)))
    sides = target[len(target) - kept:]
    ones = draw(st.lists(st.booleans(), min_size=kept, max_size=kept))
    return tuple(1 if one else side for side, one in zip(sides, ones, strict=True))


def axes(ndim):
    """A reduction axis: None, one int (possibly negative) or a tuple of distinct ints, valid for `ndim`."""
    if ndim == 0:
        return st.none()
    single = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)
    return st.one_of(st.none(), single, several)


def normalized_axes(axis, ndim):
    """The non-negative axes that `axis` (None, int or tuple) names."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


# ----- float arrays -------------------------------------------------------------------------------------------------
def floats(low=-BOUND, high=BOUND):
    """Finite float64 elements in [low, high], without subnormals."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape, low=-BOUND, high=BOUND, elements=None):
    """A float64 array of `shape`, each element drawn on its own in [low, high] (or from `elements`)."""
    elements = floats(low, high) if elements is None else elements
    return hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing())


def positive_arrays(shape, low=0.1, high=BOUND):
    """A float64 array in [low, high] with low > 0: inputs of log, sqrt and the bases of power."""
    return arrays(shape, low, high)


@st.composite
def signed_magnitudes(draw, shape, margin=KINK_MARGIN, high=BOUND):
    """magnitude * sign with magnitude in [margin, high]: never within `margin` of the kink at 0 (relu, abs)."""
    magnitudes = draw(arrays(shape, margin, high))
    signs = draw(hnp.arrays(np.bool_, shape))
    return np.where(signs, magnitudes, -magnitudes)


def arrays_between(shape, points, margin=KINK_MARGIN, low=-BOUND, high=BOUND):
    """An array whose elements lie in [low, high] but at least `margin` from every one of `points` (clip bounds)."""
    edges = [low, *sorted(points), high]
    gaps = [floats(left + margin, right - margin) for left, right in zip(edges[:-1], edges[1:], strict=True)
            if right - left > 2 * margin]
    return arrays(shape, elements=st.one_of(gaps))


@st.composite
def distinct_arrays(draw, *array_shapes):
    """Arrays whose elements, all arrays together, are distinct and far apart: no ties for max, min, maximum.

    A random permutation of evenly spaced values in [-4.5, 4.5], plus noise below a quarter of the spacing, so any
    two elements differ by at least half the spacing (> 0.03 for up to 128 elements).
    """
    sizes = [math.prod(shape) for shape in array_shapes]
    total = sum(sizes)
    spacing = 9.0 / max(total, 2)
    order = np.array(draw(st.permutations(range(total))), dtype=np.float64)
    noise = draw(arrays((total,), -spacing / 4, spacing / 4))
    values = (order - (total - 1) / 2) * spacing + noise
    pieces = np.split(values, np.cumsum(sizes)[:-1])
    return tuple(piece.reshape(shape) for piece, shape in zip(pieces, array_shapes, strict=True))


def distinct_array(shape):
    """One array of `shape` with distinct, well separated elements (see distinct_arrays)."""
    return distinct_arrays(shape).map(lambda pieces: pieces[0])


def upstream_gradients(shape, bound=2.0):
    """An upstream gradient for an output of `shape`: float64, every element drawn on its own, in [-2, 2]."""
    return arrays(shape, -bound, bound)


def projected(outputs, upstreams):
    """sum_i <u_i, out_i> over tensors out_i and arrays u_i: a scalar whose gradient is the VJP of every output with
    its own upstream gradient, so one gradcheck of it checks the backward pass of several outputs at once."""
    total = None
    for output, upstream in zip(outputs, upstreams, strict=True):
        term = (output * upstream).sum()
        total = term if total is None else total + term
    return total


# ----- indices and masks ------------------------------------------------------------------------------------------
def masks(shape):
    """A boolean array of `shape` (True = keep), any pattern including all False."""
    return hnp.arrays(np.bool_, shape)


@st.composite
def repeated_indices(draw, size, shape):
    """Integer indices into an axis of `size`, in [-size, size), of `shape`; with 2+ elements the first repeats."""
    indices = draw(hnp.arrays(np.int64, shape, elements=st.integers(-size, size - 1)))
    if indices.size >= 2:
        indices.flat[1] = indices.flat[0]
    return indices


@st.composite
def masks_with_empty_rows(draw, shape, axis):
    """A mask of a shape broadcastable to `shape` in which, sometimes, whole rows along `axis` are False."""
    mask_shape = draw(shapes_broadcastable_to(shape))
    mask = draw(masks(mask_shape))
    if mask.ndim == 0:
        return mask
    reduced = set(normalized_axes(axis, len(shape)))
    offset = len(shape) - mask.ndim
    emptied_shape = tuple(1 if i + offset in reduced else side for i, side in enumerate(mask_shape))
    emptied = draw(masks(emptied_shape))
    return mask & ~emptied


# ----- the inputs of one op call ----------------------------------------------------------------------------------
@dataclass
class OpInputs:
    """What one op call needs: the float arrays to differentiate (in order) and static parameters by name."""

    arrays: tuple
    params: dict = field(default_factory=dict)


def unary(elements=arrays, **params):
    """One array of a drawn shape, made by `elements(shape)`, and fixed `params`."""
    return shapes().flatmap(elements).map(lambda x: OpInputs((x,), dict(params)))


@st.composite
def broadcast_operands(draw, count=2, elements=None):
    """`count` arrays of mutually broadcastable shapes; `elements` is a list of per-operand array strategies."""
    shape_set = draw(broadcastable_shapes(count))
    makers = elements or [arrays] * count
    return OpInputs(tuple(draw(make(shape)) for make, shape in zip(makers, shape_set.input_shapes, strict=True)))


@st.composite
def distinct_broadcast_operands(draw, count=2):
    """`count` arrays of mutually broadcastable shapes with no element equal to another: no ties."""
    shape_set = draw(broadcastable_shapes(count))
    return OpInputs(draw(distinct_arrays(*shape_set.input_shapes)))


@st.composite
def where_inputs(draw):
    """a, b and a boolean condition, all three of mutually broadcastable shapes."""
    condition_shape, a_shape, b_shape = draw(broadcastable_shapes(3)).input_shapes
    return OpInputs((draw(arrays(a_shape)), draw(arrays(b_shape))), {"condition": draw(masks(condition_shape))})


@st.composite
def scalar_fill_inputs(draw):
    """x, a boolean mask `keep` broadcastable with it (True = keep) and a Python scalar fill `value`: the inputs of
    ``F.where(keep, x, value)``, how a mask is applied."""
    x_shape, keep_shape = draw(broadcastable_shapes(2)).input_shapes
    return OpInputs((draw(arrays(x_shape)),), {"keep": draw(masks(keep_shape)), "value": draw(floats())})


@st.composite
def matmul_operands(draw, bound=2.0):
    """a and b for a @ b: 1-D operands or stacks of matrices with broadcast batch dims (sides up to 3)."""
    a_shape, b_shape = draw(hnp.mutually_broadcastable_shapes(
        signature=np.matmul.signature, max_dims=2, max_side=3)).input_shapes
    return OpInputs((draw(arrays(a_shape, -bound, bound)), draw(arrays(b_shape, -bound, bound))))


@st.composite
def reduction_inputs(draw, elements=arrays, min_dims=0, keepdims=True, ddof=False):
    """x and a reduction axis (None, int or tuple), with `keepdims` and a valid `ddof` when asked for."""
    shape = draw(shapes(min_dims=min_dims))
    axis = draw(axes(len(shape)))
    params = {"axis": axis}
    if keepdims:
        params["keepdims"] = draw(st.booleans())
    if ddof:
        count = math.prod(shape[a] for a in normalized_axes(axis, len(shape)))
        params["ddof"] = draw(st.integers(0, min(1, count - 1)))
    return OpInputs((draw(elements(shape)),), params)


@st.composite
def masked_softmax_inputs(draw):
    """Logits, an axis and a boolean mask (True = keep) broadcastable to them, sometimes with fully masked rows."""
    shape = draw(shapes(min_dims=1))
    axis = draw(axes(len(shape)))
    return OpInputs((draw(arrays(shape)),), {"axis": axis, "mask": draw(masks_with_empty_rows(shape, axis))})


@st.composite
def scaled_masked_softmax_inputs(draw):
    """Logits, an axis, a scale and a mask: boolean (rows sometimes fully masked) or additive float (with -inf)."""
    shape = draw(shapes(min_dims=1))
    axis = draw(axes(len(shape)))
    keep = draw(masks_with_empty_rows(shape, axis))
    if draw(st.booleans()):
        mask = keep
    else:
        mask = np.where(keep, draw(arrays(np.shape(keep), -2.0, 2.0)), -np.inf)
    return OpInputs((draw(arrays(shape)),), {"axis": axis, "mask": mask, "scale": draw(st.sampled_from([0.5, 2.0]))})


@st.composite
def fused_attention_inputs(draw):
    """query (..., Tq, D), key (..., Tk, D), value (..., Tk, Dv) with broadcasting batch axes; a causal flag; a bias
    (None, or additive floats with -inf, rows sometimes fully dropped) broadcasting to (..., Tq, Tk); a scale; and a
    block size from 1 up, so that blocks split the rows and keys unevenly or hold them whole."""
    batch = draw(broadcastable_shapes(3, max_dims=2, max_side=3))
    queries, keys = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    size, value_size = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    query = draw(arrays(batch.input_shapes[0] + (queries, size)))
    key = draw(arrays(batch.input_shapes[1] + (keys, size)))
    value = draw(arrays(batch.input_shapes[2] + (keys, value_size)))
    bias = None
    if draw(st.booleans()):
        keep = draw(masks_with_empty_rows(batch.result_shape + (queries, keys), -1))
        bias = np.where(keep, draw(arrays(np.shape(keep), -2.0, 2.0)), -np.inf)
        bias = bias.reshape((1,) * (2 - bias.ndim) + bias.shape)  # at least (Tq or 1, Tk or 1)
    params = {"bias": bias, "causal": draw(st.booleans()), "scale": draw(st.sampled_from([0.5, 1.3])),
              "block": draw(st.integers(1, 7))}
    return OpInputs((query, key, value), params)


@st.composite
def binary_cross_entropy_inputs(draw):
    """Logits and targets in [0, 1] of mutually broadcastable shapes, and a reduction."""
    pair = draw(broadcastable_shapes(2))
    logits, targets = draw(arrays(pair.input_shapes[0])), draw(arrays(pair.input_shapes[1], 0.0, 1.0))
    return OpInputs((logits, targets), {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))})


@st.composite
def embedding_inputs(draw):
    """A (V, D) table, integer ids (ndim 0..2, with a repeat) and a padding_idx that the ids never use (or None)."""
    rows, width = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    ids = draw(repeated_indices(rows - 1, draw(shapes(max_dims=2)))) % (rows - 1)
    padding_idx = draw(st.sampled_from([None, rows - 1]))
    return OpInputs((draw(arrays((rows, width))),), {"ids": ids, "padding_idx": padding_idx})


@st.composite
def clip_inputs(draw):
    """x kept at least KINK_MARGIN away from the clip bounds, which are drawn (either may be None)."""
    low = draw(st.none() | floats(-2.0, -0.5))
    high = draw(st.none() | floats(0.5, 2.0))
    bounds = [bound for bound in (low, high) if bound is not None]
    x = draw(shapes().flatmap(lambda shape: arrays_between(shape, bounds)))
    return OpInputs((x,), {"low": low, "high": high})


@st.composite
def power_inputs(draw, exponent):
    """Inputs of base ** exponent, `exponent` being 'tensor' (both broadcast), 'scalar' or 'scalar base'.

    Bases are positive (the exponent's gradient needs log(base)) except for integer scalar exponents.
    """
    if exponent == "tensor":
        return draw(broadcast_operands(2, [lambda s: positive_arrays(s, 0.5, 2.5), lambda s: arrays(s, -2, 2)]))
    shape = draw(shapes())
    if exponent == "scalar base":
        return OpInputs((draw(arrays(shape, -2, 2)),), {"base": draw(floats(0.5, 2.5))})
    power = draw(st.sampled_from([2, 3, -1.5, 0.5, 1.7]))
    base = draw(arrays(shape, -2, 2) if isinstance(power, int) else positive_arrays(shape, 0.5, 2.5))
    return OpInputs((base,), {"exponent": power})


@st.composite
def basic_index_inputs(draw):
    """x and a basic index: ints, slices (any step), None and Ellipsis."""
    shape = draw(shapes())
    return OpInputs((draw(arrays(shape)),), {"index": draw(hnp.basic_indices(shape, allow_newaxis=True))})


@st.composite
def integer_array_index_inputs(draw):
    """x and an advanced integer index with a repeated element: x[i], x[:, i] or x[i, j] (a repeated pair)."""
    shape = draw(shapes(min_dims=1))
    forms = ["first"] + (["second", "pairs"] if len(shape) >= 2 else [])
    form = draw(st.sampled_from(forms))
    index_shape = draw(shapes(min_dims=1, max_dims=2))
    if form == "first":
        index = draw(repeated_indices(shape[0], index_shape))
    elif form == "second":
        index = (slice(None), draw(repeated_indices(shape[1], index_shape)))
    else:
        length = (max(2, index_shape[0]),)
        index = (draw(repeated_indices(shape[0], length)), draw(repeated_indices(shape[1], length)))
    return OpInputs((draw(arrays(shape)),), {"index": index})


@st.composite
def boolean_index_inputs(draw):
    """x and a boolean index: a mask over its leading axes (x[mask]) or over its second axis (x[:, mask])."""
    shape = draw(shapes(min_dims=1))
    if len(shape) >= 2 and draw(st.booleans()):
        index = (slice(None), draw(masks(shape[1:2])))
    else:
        index = draw(masks(shape[: draw(st.integers(1, len(shape)))]))
    return OpInputs((draw(arrays(shape)),), {"index": index})


@st.composite
def take_inputs(draw):
    """x, an axis of it and integer indices (ndim 0..2, with a repeat) along that axis."""
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    indices = draw(repeated_indices(shape[axis], draw(shapes(max_dims=2))))
    return OpInputs((draw(arrays(shape)),), {"indices": indices, "axis": axis})


@st.composite
def gather_inputs(draw, broadcast=False):
    """x, an axis and indices of x's ndim (take_along_axis) whose first two entries along the axis coincide.

    With `broadcast`, the other axes may differ as ``np.take_along_axis`` allows: size 1 in the indices or in x.
    """
    shape = draw(shapes(min_dims=1))
    ndim = len(shape)
    axis = draw(st.integers(-ndim, ndim - 1))
    x_shape, index_shape = list(shape), list(shape)
    index_shape[axis] = draw(st.integers(1, 4))
    if broadcast:
        for i in set(range(ndim)) - {axis % ndim}:
            kind = draw(st.sampled_from(["same", "one in indices", "one in x"]))
            if kind == "one in indices":
                index_shape[i] = 1
            elif kind == "one in x":
                x_shape[i] = 1
    size = x_shape[axis]
    indices = draw(hnp.arrays(np.int64, tuple(index_shape), elements=st.integers(-size, size - 1)))
    if indices.shape[axis] >= 2:
        moved = np.moveaxis(indices, axis, 0)  # a view: writing it writes `indices`
        moved[1] = moved[0]
    return OpInputs((draw(arrays(tuple(x_shape))),), {"indices": indices, "axis": axis})


@st.composite
def concatenate_inputs(draw):
    """1 to 3 arrays that agree on every side but that of the (drawn) axis, along which they are joined."""
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    lengths = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    pieces = []
    for length in lengths:
        piece_shape = list(shape)
        piece_shape[axis] = length
        pieces.append(draw(arrays(tuple(piece_shape))))
    return OpInputs(tuple(pieces), {"axis": axis})


@st.composite
def stack_inputs(draw):
    """1 to 3 arrays of one shape and a new axis to stack them along."""
    shape = draw(shapes())
    count = draw(st.integers(1, 3))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    return OpInputs(tuple(draw(arrays(shape)) for _ in range(count)), {"axis": axis})


@st.composite
def split_inputs(draw):
    """x, an axis and either a number of equal sections or a sorted list of split points (empty pieces allowed)."""
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    size = shape[axis]
    divisors = [n for n in range(1, size + 1) if size % n == 0]
    points = st.lists(st.integers(0, size), max_size=3).map(sorted)
    return OpInputs((draw(arrays(shape)),), {"sections": draw(st.sampled_from(divisors) | points), "axis": axis})


@st.composite
def reshape_inputs(draw):
    """x and a new shape of the same size: its sides permuted, some neighbours merged, maybe a -1 and extra 1s."""
    shape = draw(shapes())
    sides = list(draw(st.permutations(shape)))
    merged = []
    for side in sides:
        if merged and draw(st.booleans()):
            merged[-1] *= side
        else:
            merged.append(side)
    for _ in range(draw(st.integers(0, 1))):
        merged.insert(draw(st.integers(0, len(merged))), 1)
    if merged and draw(st.booleans()):
        merged[draw(st.integers(0, len(merged) - 1))] = -1
    return OpInputs((draw(arrays(shape)),), {"shape": tuple(merged)})


@st.composite
def transpose_inputs(draw):
    """x and a permutation of its axes (some written negative), or None for all axes reversed."""
    shape = draw(shapes())
    ndim = len(shape)
    order = draw(st.permutations(range(ndim)))
    signs = draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
    permutation = tuple(a - ndim if negative else a for a, negative in zip(order, signs, strict=True))
    return OpInputs((draw(arrays(shape)),), {"axes": draw(st.none() | st.just(permutation))})


@st.composite
def swapaxes_inputs(draw):
    """x (ndim >= 1) and two of its axes, possibly equal or negative."""
    shape = draw(shapes(min_dims=1))
    axis = st.integers(-len(shape), len(shape) - 1)
    return OpInputs((draw(arrays(shape)),), {"axis1": draw(axis), "axis2": draw(axis)})


@st.composite
def expand_dims_inputs(draw):
    """x and where new size-1 axes go: one position (maybe negative) or a tuple of distinct output positions."""
    shape = draw(shapes(max_dims=2))
    out_ndim = len(shape) + draw(st.integers(1, 2))
    positions = st.lists(st.integers(0, out_ndim - 1), min_size=out_ndim - len(shape),
                         max_size=out_ndim - len(shape), unique=True).map(tuple)
    if out_ndim == len(shape) + 1:
        positions = positions | st.integers(-out_ndim, out_ndim - 1)
    return OpInputs((draw(arrays(shape)),), {"axis": draw(positions)})


@st.composite
def squeeze_inputs(draw):
    """x with some sides of 1 and the axes to squeeze: None (all of them) or a subset of the size-1 axes."""
    shape = draw(shapes(max_side=2))
    ones = [a for a, side in enumerate(shape) if side == 1]
    axis = draw(st.none() | st.lists(st.sampled_from(ones), unique=True).map(tuple) if ones else st.none())
    return OpInputs((draw(arrays(shape)),), {"axis": axis})


@st.composite
def broadcast_to_inputs(draw):
    """x and a target shape that x's shape broadcasts to."""
    target = draw(shapes())
    return OpInputs((draw(arrays(draw(shapes_broadcastable_to(target)))),), {"shape": target})


@st.composite
def cross_entropy_inputs(draw):
    """Logits (..., C) and, as params, integer targets (...) of which some may equal the drawn ignore_index, a
    label smoothing in [0, 0.9] and a reduction ("mean", "sum", "none")."""
    shape = draw(shapes(min_dims=1))
    classes = shape[-1]
    ignore_index = draw(st.sampled_from([-100, -1]))
    targets = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, classes - 1) | st.just(ignore_index)))
    params = {
        "targets": targets, "ignore_index": ignore_index,
        "label_smoothing": draw(st.sampled_from([0.0, 0.1]) | floats(0.0, 0.9)),
        "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
    }
    return OpInputs((draw(arrays(shape)),), params)


@st.composite
def layer_norm_inputs(draw, weight=True, bias=True):
    """x (..., D) and, when asked for, a weight and a bias (D,) (in that order), with an eps as a param."""
    shape = draw(shapes(min_dims=1))
    affine = [draw(arrays(shape[-1:], -2.0, 2.0)) for wanted in (weight, bias) if wanted]
    return OpInputs((draw(spread_rows(shape)), *affine), {"eps": draw(st.sampled_from([1e-5, 1e-2]))})


@st.composite
def spread_rows(draw, shape):
    """x of `shape` whose rows (last axis) hold values at least 1 apart, shuffled, around a random offset.

    Layer norm divides by each row's standard deviation: on a nearly constant row, float32 rounding of the mean
    becomes a gradient error far above any fixed tolerance (seen: rows [-4.125, -4.148]). Rows of one element are
    constant by nature, and exact.
    """
    side = shape[-1]
    rows = math.prod(shape[:-1])
    ramps = [draw(st.permutations(range(side))) for _ in range(rows)]
    noise = draw(arrays((rows, side), -0.25, 0.25))
    offsets = draw(arrays((rows, 1), -2.0, 2.0))
    return (1.5 * np.array(ramps, dtype=np.float64) + noise + offsets - 1.5 * (side - 1) / 2).reshape(shape)


# ----- recurrent cells and layers ---------------------------------------------------------------------------------
# Weights in [-1, 1] and gate inputs in [-2, 2] keep sigmoid and tanh away from saturation, where every gradient
# would be near zero and a wrong one would pass.
RECURRENT_KINDS = {"gru": (3, 1), "lstm": (4, 2)}  # kind -> (gates, state arrays: h, or h and c)


@st.composite
def recurrent_cell_inputs(draw, kind, bias=True):
    """The inputs of gru_cell / lstm_cell: x (B, I), the state (h, or h and c, (B, H) each), weight_ih (I, G*H),
    weight_hh (H, G*H) and, with `bias`, bias_ih and bias_hh (G*H,); sides 1..3."""
    gates, state_count = RECURRENT_KINDS[kind]
    batch, inputs, size = (draw(st.integers(1, 3)) for _ in range(3))
    width = gates * size
    drawn = [draw(arrays((batch, inputs), -2.0, 2.0))]
    drawn += [draw(arrays((batch, size), -1.0, 1.0)) for _ in range(state_count)]
    drawn += [draw(arrays((inputs, width), -1.0, 1.0)), draw(arrays((size, width), -1.0, 1.0))]
    drawn += [draw(arrays((width,), -1.0, 1.0)) for _ in range(2 if bias else 0)]
    return OpInputs(tuple(drawn), {})


@st.composite
def recurrent_sequence_inputs(draw, kind, bias=True):
    """The inputs of gru_sequence / lstm_sequence: input_gates (T, B, G*H), the initial state, weight_hh (H, G*H)
    and, with `bias`, bias_hh (G*H,); as params a mask (T, B) of real steps (any pattern, or None) and a direction.
    T up to 3, B and H up to 2: at most 48 elements per array, so gradcheck goes element by element."""
    gates, state_count = RECURRENT_KINDS[kind]
    steps, batch, size = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    width = gates * size
    drawn = [draw(arrays((steps, batch, width), -2.0, 2.0))]
    drawn += [draw(arrays((batch, size), -1.0, 1.0)) for _ in range(state_count)]
    drawn += [draw(arrays((size, width), -1.0, 1.0))]
    drawn += [draw(arrays((width,), -1.0, 1.0)) for _ in range(1 if bias else 0)]
    params = {"mask": draw(st.none() | masks((steps, batch))), "reverse": draw(st.booleans())}
    return OpInputs(tuple(drawn), params)


@dataclass(frozen=True)
class RecurrentConfig:
    """A GRU or LSTM layer stack and the input it runs on (see recurrent_configs)."""

    kind: str  # "GRU" or "LSTM"
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    steps: int
    batch: int
    input_size: int
    hidden_size: int
    initial_state: bool  # whether h0 (and c0) are passed
    padding: str  # "none", "lengths" or "mask"
    lengths: tuple  # (B,) lengths in [0, T]; the mask form is their prefix mask

    @property
    def directions(self):
        return 2 if self.bidirectional else 1


@st.composite
def recurrent_configs(draw, kinds=("GRU", "LSTM"), max_layers=2, max_steps=4):
    """Small layer stacks (H up to 2, I up to 3, B up to 3, T up to `max_steps`), any options, and padding by lengths
    or mask (a length may be 0 or T) or none."""
    steps, batch = draw(st.integers(1, max_steps)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["none", "lengths", "mask"]))
    lengths = (steps,) * batch if padding == "none" else tuple(
        draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch)))
    return RecurrentConfig(
        kind=draw(st.sampled_from(kinds)), num_layers=draw(st.integers(1, max_layers)),
        bidirectional=draw(st.booleans()), batch_first=draw(st.booleans()), bias=draw(st.booleans()),
        steps=steps, batch=batch, input_size=draw(st.integers(1, 3)), hidden_size=draw(st.integers(1, 2)),
        initial_state=draw(st.booleans()), padding=padding, lengths=lengths,
    )


# ----- kernel inputs ----------------------------------------------------------------------------------------------
KERNEL_DTYPES = (np.float32, np.float64)
LAYOUTS = ("contiguous", "transposed", "strided", "read-only")


def laid_out(array, layout):
    """`array`'s values in a given memory layout: C-contiguous, a transposed view, a strided view, or read-only (a
    1-D array, which has no transpose, strided for "transposed")."""
    if layout == "transposed" and array.ndim < 2:
        layout = "strided"
    if layout == "transposed":
        return np.ascontiguousarray(np.swapaxes(array, -1, -2)).swapaxes(-1, -2)
    if layout == "strided":
        return np.repeat(array, 2, axis=-1)[..., ::2]
    if layout == "read-only":
        array = array.copy()
        array.setflags(write=False)
    return array


@st.composite
def kernel_rows(draw, max_rows=6, max_length=40):
    """(scores, mask, scale) for the softmax kernels: float32 or float64 (B, R, T) scores of magnitude up to 1e4 in
    any layout, and no mask, a boolean mask (some rows fully masked) or an additive float mask (with -inf)."""
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, max_rows)), draw(st.integers(1, max_length)))
    magnitude = draw(st.sampled_from([1.0, 30.0, 1e4]))
    scores = (draw(arrays(shape, -1.0, 1.0)) * magnitude).astype(dtype)
    scores = laid_out(scores, draw(st.sampled_from(LAYOUTS)))
    mask_shape = draw(shapes_broadcastable_to(shape))
    kind = draw(st.sampled_from(["none", "boolean", "float"]))
    mask = None
    if kind != "none":
        keep = draw(hnp.arrays(np.bool_, mask_shape))
        mask = keep if kind == "boolean" else np.where(keep, draw(arrays(mask_shape, -3.0, 3.0)), -np.inf)
    scale = draw(st.sampled_from([1.0, 0.125, 2.0]))
    return scores, mask, scale


@st.composite
def cross_entropy_kernel_inputs(draw, max_rows=6, max_classes=40):
    """(logits, targets, ignore_index, label_smoothing) for the cross-entropy kernels: float32 or float64 logits
    (N, C) of magnitude up to 1e4 in any layout (C may be 1), and int32 or int64 targets (N,), contiguous, strided or
    read-only, of which none, some or all equal ignore_index."""
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    rows, classes = draw(st.integers(1, max_rows)), draw(st.integers(1, max_classes))
    magnitude = draw(st.sampled_from([1.0, 30.0, 1e4]))
    logits = laid_out((draw(arrays((rows, classes), -1.0, 1.0)) * magnitude).astype(dtype),
                      draw(st.sampled_from(LAYOUTS)))
    ignore_index = draw(st.sampled_from([-100, -1]))
    targets = draw(hnp.arrays(np.int64, rows, elements=st.integers(0, classes - 1)))
    ignored = draw(st.sampled_from(["none", "some", "all"]))
    if ignored != "none":
        targets = np.where(draw(masks(rows)) | (ignored == "all"), ignore_index, targets)
    targets = laid_out(targets.astype(draw(st.sampled_from([np.int64, np.int32]))),
                       draw(st.sampled_from(["contiguous", "strided", "read-only"])))
    return logits, targets, ignore_index, draw(st.sampled_from([0.0, 0.1]) | floats(0.0, 0.95))


@st.composite
def layer_norm_kernel_inputs(draw, max_rows=6, max_size=40):
    """(x, weight, bias, eps) for the layer-norm kernels: float32 or float64 x (N, D) in any layout, sometimes with
    a mean (1e3) large against its spread, or a tiny spread; weight and bias (D,) or None."""
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    shape = (draw(st.integers(1, max_rows)), draw(st.integers(1, max_size)))
    offset, spread = draw(st.sampled_from([(0.0, 1.0), (1e3, 1.0), (0.0, 1e-3)]))
    x = laid_out((offset + spread * draw(arrays(shape))).astype(dtype), draw(st.sampled_from(LAYOUTS)))
    weight, bias = (draw(st.none() | arrays(shape[-1:], -2.0, 2.0).map(lambda a: a.astype(dtype))) for _ in "wb")
    return x, weight, bias, draw(st.sampled_from([1e-5, 1e-2]))


# ----- the glimpse sensor -----------------------------------------------------------------------------------------
def dyadic_arrays(shape):
    """A float64 array of `shape` whose elements are multiples of 1/8 in [-8, 8]: sums of up to 16 of them, and their
    halves and quarters, are exact in float32 as in float64, in any order."""
    return arrays(shape, elements=st.integers(-64, 64).map(lambda eighths: eighths / 8))


@st.composite
def glimpse_corner_arrays(draw, batch, scales, size, image_size):
    """Top-left corners (B, S, 2) int64 of glimpse patches of side size * 2**s in an image of `image_size` (H, W):
    each coordinate anywhere from a side's length before the image (the patch fully outside) to past its far edge,
    so patches lie inside, across either border, around the whole image, or fully outside on any side."""
    corners = np.empty((batch, scales, 2), np.int64)
    for b in range(batch):
        for s in range(scales):
            side = size * 2**s
            for axis in (0, 1):
                corners[b, s, axis] = draw(st.integers(-side - 1, image_size[axis] + 1))
    return corners


@st.composite
def glimpse_inputs(draw):
    """images (B, C, H, W) and, as params, corners (B, S, 2) int64 (see glimpse_corner_arrays) and a patch size:
    B and C up to 2, H and W up to 5, size 1..3 (odd and even), S = 1..3 scales."""
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    image_size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    size, scales = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    corners = draw(glimpse_corner_arrays(batch, scales, size, image_size))
    return OpInputs((draw(arrays((batch, channels, *image_size))),), {"corners": corners, "size": size})


@st.composite
def glimpse_kernel_inputs(draw):
    """(images, corners, size, grad) for the glimpse kernels: float32 or float64 images (B, C, H, W) with B and C in
    1..3 and H and W in 1..9, in any layout; int64 or int32 corners (B, S, 2), S = 1..3, contiguous, strided or
    read-only; a size in 1..4; and an upstream gradient (B, S, C, size, size) of the images' dtype in any layout.
    Values are dyadic (see dyadic_arrays), so kernel and reference must agree exactly."""
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    image_size = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    size, scales = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    images = laid_out(draw(dyadic_arrays((batch, channels, *image_size))).astype(dtype),
                      draw(st.sampled_from(LAYOUTS)))
    corners = laid_out(draw(glimpse_corner_arrays(batch, scales, size, image_size)).astype(
        draw(st.sampled_from([np.int64, np.int32]))), draw(st.sampled_from(["contiguous", "strided", "read-only"])))
    grad = laid_out(draw(dyadic_arrays((batch, scales, channels, size, size))).astype(dtype),
                    draw(st.sampled_from(LAYOUTS)))
    return images, corners, size, grad


# ----- the LSTM and GRU step kernels ----------------------------------------------------------------------------
def _recurrent_step(draw, gate_count, max_batch, max_size):
    """The forward arrays both step kernels take, as a dict: h W_hh (B, G*H) C-contiguous (the kernel writes into
    it), the input gates (B, G*H), the bias (G*H,) or None, h (B, H) in one layout, keep (B,) or None; and (dtype, B,
    H, layout, magnitude) for the arrays the caller draws next."""
    dtype = draw(st.sampled_from(KERNEL_DTYPES))
    batch, size = draw(st.integers(1, max_batch)), draw(st.integers(1, max_size))
    width = gate_count * size
    magnitude = draw(st.sampled_from([1e-6, 1.0, 30.0, 100.0]))
    recurrent = np.ascontiguousarray((draw(arrays((batch, width), -1.0, 1.0)) * magnitude).astype(dtype))
    layout = draw(st.sampled_from(LAYOUTS))
    input_gates = laid_out((draw(arrays((batch, width), -1.0, 1.0)) * magnitude).astype(dtype), layout)
    bias = draw(st.none() | arrays((width,), -1.0, 1.0).map(lambda a: a.astype(dtype)))
    hidden = laid_out(draw(arrays((batch, size), -3.0, 3.0)).astype(dtype), layout)
    keep = draw(st.none() | hnp.arrays(np.bool_, batch))
    step = dict(recurrent=recurrent, input_gates=input_gates, bias=bias, hidden=hidden, keep=keep)
    return step, (dtype, batch, size, layout, magnitude)


#: Pre-activations a step kernel's sigmoid and tanh must get right: 0, tiny values (tanh keeps them), the exp's
#: range-reduction boundary (ln(2) / 2), saturation, float32's and float64's exp overflow, and beyond.
STEP_EDGES = [0.0, 1e-7, -1e-7, 1e-4, -0.1, 0.3466, -0.3466, 0.35, 1.0, -1.0, 5.0, -5.0, 20.0, -20.0, 40.0, -40.0,
              87.0, -87.0, 89.0, -89.0, 100.0, -100.0, 750.0, -750.0, 1e30, -1e30]


def edge_step_case(gate_count, dtype):
    """A step of two rows whose input gates carry every edge value at every gate (forwards, then reversed), with
    h W_hh, h and c zero, no bias and no padding; and the exact pre-activations (float64) and their sigmoid."""
    values = np.array(STEP_EDGES)
    size = len(values)
    pre_activations = np.stack([np.tile(values, gate_count), np.tile(values[::-1], gate_count)])  # (2, G*H)
    zeros = np.zeros((2, size), dtype)
    case = dict(recurrent=np.zeros((2, gate_count * size), dtype), input_gates=pre_activations.astype(dtype),
                bias=None, hidden=zeros, cell=zeros, keep=None)
    exact = case["input_gates"].astype(np.float64)
    with np.errstate(over="ignore"):
        sigmoid = 1 / (1 + np.exp(-exact))
    return case, exact, sigmoid


# ----- the LSTM step kernels -----------------------------------------------------------------------------------
@st.composite
def lstm_kernel_inputs(draw, max_batch=4, max_size=20):
    """The arrays of one LSTM step in float32 or float64 (tinyattn/kernels/lstm.py), batch B <= 4 and hidden size
    H <= 20 (past one 8-wide vector, so that both the vector loops and their remainders run):

    - forward: h W_hh (B, 4H), C-contiguous (the kernel writes the activations into it); input gates (B, 4H), bias
      (4H,) or None, h and c (B, H), in any layout. Gate values up to 1e-6, 1, 30 or 100 in magnitude (saturated
      sigmoids, an exp that overflows in the reference, tanh near 0);
    - backward: activations (i, f, o in (0, 1), g in (-1, 1)), tanh(c') in (-1, 1) and upstream gradients;
    - keep (B,) boolean (False = a padded step) or None.
    """
    step, (dtype, batch, size, layout, _) = _recurrent_step(draw, 4, max_batch, max_size)
    cell = laid_out(draw(arrays((batch, size), -3.0, 3.0)).astype(dtype), layout)
    activations = np.concatenate([draw(arrays((batch, 2 * size), 0.0, 1.0)), draw(arrays((batch, size), -1.0, 1.0)),
                                  draw(arrays((batch, size), 0.0, 1.0))], axis=1).astype(dtype)
    tanh_cell = draw(arrays((batch, size), -1.0, 1.0)).astype(dtype)
    grad_hidden, grad_cell = (laid_out(draw(arrays((batch, size), -2.0, 2.0)).astype(dtype), layout) for _ in "hc")
    return dict(step, cell=cell, activations=activations, tanh_cell=tanh_cell, grad_hidden=grad_hidden,
                grad_cell=grad_cell)


# ----- the GRU step kernels ------------------------------------------------------------------------------------
@st.composite
def gru_kernel_inputs(draw, max_batch=4, max_size=20):
    """The arrays of one GRU step in float32 or float64 (tinyattn/kernels/gru.py), as in lstm_kernel_inputs:

    - forward: h W_hh (B, 3H), C-contiguous (the kernel writes the gates into it); input gates (B, 3H), bias (3H,)
      or None, h (B, H), in any layout. Gate values up to 1e-6, 1, 30 or 100 in magnitude;
    - backward: the forward's hidden gates (r, z in (0, 1), then h W_hn + b_hn), n in (-1, 1) and d h';
    - keep (B,) boolean (False = a padded step) or None.
    """
    step, (dtype, batch, size, layout, magnitude) = _recurrent_step(draw, 3, max_batch, max_size)
    gates = np.concatenate([draw(arrays((batch, 2 * size), 0.0, 1.0)),
                            draw(arrays((batch, size), -3.0, 3.0)) * magnitude], axis=1).astype(dtype)
    candidate = draw(arrays((batch, size), -1.0, 1.0)).astype(dtype)
    grad_hidden = laid_out(draw(arrays((batch, size), -2.0, 2.0)).astype(dtype), layout)
    return dict(step, gates=gates, candidate=candidate, grad_hidden=grad_hidden)


# ----- comparisons shared by several test modules -----------------------------------------------------------------
def assert_same_values_and_gradients(op_out, composite_out, op_leaves, composite_leaves, upstream, rtol=1e-10):
    """An op and the same formula written with other ops give the same values, and (after backward with `upstream`)
    the same gradient for each pair of leaves."""
    np.testing.assert_allclose(op_out.data, composite_out.data, rtol=rtol, atol=rtol)
    op_out.backward(upstream)
    composite_out.backward(upstream)
    for op_leaf, composite_leaf in zip(op_leaves, composite_leaves, strict=True):
        np.testing.assert_allclose(op_leaf.grad, composite_leaf.grad, rtol=rtol, atol=rtol)


def assert_error_names(error, call, fragments):
    """call() raises `error`, whose message holds every one of `fragments` (the op, the shapes, the dtypes...)."""
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from: {message}"


KERNEL_IMPLEMENTATIONS = ("numba", "reference")  # the two methods of a Kernel, for tests that run both

# Float32 kernels sum in a different order than NumPy's pairwise sums and use their own exp (within one ulp):
# a few ulps of the result, relative to its magnitude.
KERNEL_TOLERANCE = {np.dtype(np.float32): dict(rtol=2e-5, atol=1e-6),
                    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-14)}


def assert_kernel_matches(kernel_result, reference_result):
    """Same dtype and shape, values within KERNEL_TOLERANCE (the softmax family, scatter-add)."""
    assert kernel_result.dtype == reference_result.dtype
    assert kernel_result.shape == reference_result.shape
    np.testing.assert_allclose(kernel_result, reference_result, **KERNEL_TOLERANCE[reference_result.dtype])


# For the fused kernels (cross-entropy, layer norm): |kernel - reference| <= rtol * (|reference| + scale), rtol 1e-13
# in float64 and 2e-6 in float32 (about 17 float32 ulps: the kernels sum in another order than NumPy's pairwise sums
# and use their own exp; over 3,000 drawn cases per kernel the worst error seen was 2.4e-7 in float32 and 4.6e-16 in
# float64, in these units). `scale` is the size of the rounding each comparison inherits, given by each test.
FUSED_KERNEL_RTOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}


def assert_fused_kernel_matches(kernel_result, reference_result, scale=1.0):
    """Same dtype and shape, values within FUSED_KERNEL_RTOL * (|reference| + scale)."""
    assert kernel_result.dtype == reference_result.dtype
    assert kernel_result.shape == reference_result.shape
    rtol = FUSED_KERNEL_RTOL[reference_result.dtype]
    np.testing.assert_allclose(kernel_result, reference_result, rtol=rtol, atol=rtol * scale)


def assert_one_compilation_per_dtype(*dispatchers):
    """Each Numba dispatcher has compiled at most one signature per float dtype: whatever the layout and flags of
    the arrays its kernel was given, they reached Numba in one form (C-contiguous inputs read-only, outputs
    writable), which a second compilation for the same dtype would contradict."""
    for dispatcher in dispatchers:
        # The float dtype of each signature: that of its first float argument, array or scalar.
        dtypes = [next(name for name in (str(getattr(argument, "dtype", argument)) for argument in signature)
                       if name.startswith("float"))
                  for signature in dispatcher.signatures]
        assert len(dtypes) == len(set(dtypes)), f"{dispatcher.py_func.__name__}: {dispatcher.signatures}"
        for signature in dispatcher.signatures:
            assert all(argument.layout == "C" for argument in signature if hasattr(argument, "layout")), signature


def assert_module_compiled_once_per_dtype(module):
    """assert_one_compilation_per_dtype for every Numba dispatcher of a kernel module (none before its first
    kernel call; afterwards its loop functions are dispatchers)."""
    dispatchers = [value for value in vars(module).values()
                   if hasattr(value, "signatures") and getattr(value, "py_func", None) is not None
                   and value.py_func.__module__ == module.__name__]
    assert_one_compilation_per_dtype(*dispatchers)


def assert_every_layout_gives_the_reference_results(run):
    """For each layout of LAYOUTS, run(implementation, lay, output) with `lay(array)` giving an input that layout and
    `output(shape, dtype)` a new output array in it (C-contiguous for "read-only"); the Numba kernels' results equal
    the references' (assert_fused_kernel_matches, scale 2)."""
    for layout in LAYOUTS:
        out_layout = "contiguous" if layout == "read-only" else layout
        lay = functools.partial(_laid_out_as, layout)
        output = functools.partial(_output_as, out_layout)
        results = {implementation: run(implementation, lay, output) for implementation in KERNEL_IMPLEMENTATIONS}
        for got, expected in zip(results["numba"], results["reference"], strict=True):
            assert_fused_kernel_matches(got, expected, scale=2.0)


def _laid_out_as(layout, array):
    return laid_out(array, layout)


def _output_as(layout, shape, dtype):
    return output_laid_out(shape, dtype, layout)


def output_laid_out(shape, dtype, layout):
    """An empty, writable output array of `shape` in a layout: C-contiguous, transposed (Fortran order) or strided."""
    if layout == "transposed":
        return np.empty(shape, dtype, order="F")
    if layout == "strided":
        return np.empty(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2]
    return np.empty(shape, dtype)


def assert_step_kernel_matches_its_reference(run, case, scales, module):
    """run(implementation, case) -> results, for the Numba kernel and the NumPy reference: each result equal within
    assert_fused_kernel_matches at its scale in `scales`; no array of `case` written; `module`'s loop functions
    compiled once per dtype, whatever the layouts of the case's arrays."""
    before = {name: value.copy() for name, value in case.items() if isinstance(value, np.ndarray)}
    got, expected = run("numba", case), run("reference", case)
    for result, want, scale in zip(got, expected, scales, strict=True):
        assert_fused_kernel_matches(result, want, scale=scale)
    for name, value in before.items():
        np.testing.assert_array_equal(case[name], value)
    assert_module_compiled_once_per_dtype(module)


def largest(values):
    """max |values| as a float (0 for an empty array)."""
    return float(np.max(np.abs(values), initial=0.0))
