"""Scaled dot-product attention and multi-head attention: gradients, the formula in NumPy, masks (boolean, float,
causal, fully masked rows, padding that must not leak), dtypes, dropout and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn.attention import MultiHeadAttention, scaled_dot_product_attention
from tinyattn.errors import DTypeError, ShapeError

EXAMPLES = 40
MASK_KINDS = ["none", "bool", "float"]


def _leaf(array):
    return ta.tensor(array, dtype=np.float64, requires_grad=True)


# ----- a reference written out in NumPy ------------------------------------------------------------------------------
def _reference_weights(query, key, mask=None, is_causal=False, scale=None):
    """softmax(scale * q k^T + mask) in plain NumPy; rows with no kept key give zeros."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    logits = scale * np.matmul(query, np.swapaxes(key, -1, -2))  # (..., Tq, Tk)
    if mask is not None:
        logits = np.where(mask, logits, -np.inf) if mask.dtype == np.bool_ else logits + mask
    queries, keys = logits.shape[-2:]
    rows, columns = np.arange(queries)[:, None], np.arange(keys)[None, :]
    if is_causal:
        logits = np.where(columns <= rows + keys - queries, logits, -np.inf)
    kept = logits > -np.inf
    top = np.where(kept.any(axis=-1, keepdims=True), np.max(logits, axis=-1, keepdims=True), 0.0)
    exps = np.where(kept, np.exp(logits - top), 0.0)
    totals = exps.sum(axis=-1, keepdims=True)
    return exps / np.where(totals > 0, totals, 1.0)


def _reference_attention(query, key, value, mask=None, is_causal=False, scale=None):
    weights = _reference_weights(query, key, mask, is_causal, scale)
    return np.matmul(weights, value), weights


def _reference_multi_head(layer, query, key, value, mask):
    """Multi-head attention from the layer's own weights, one head at a time, in NumPy; mask (B|1, H|1, Tq, Tk)."""
    def project(linear, x):
        return x @ linear.weight.data + (0.0 if linear.bias is None else linear.bias.data)

    heads, size = layer.num_heads, layer.head_dim
    queries, keys, values = (project(layer.query_proj, query), project(layer.key_proj, key),
                             project(layer.value_proj, value))
    contexts, weights = [], []
    for head in range(heads):
        part = slice(head * size, (head + 1) * size)
        head_mask = None if mask is None else mask[:, min(head, mask.shape[1] - 1)]
        context, weight = _reference_attention(queries[..., part], keys[..., part], values[..., part], head_mask)
        contexts.append(context)
        weights.append(weight)
    return project(layer.out_proj, np.concatenate(contexts, axis=-1)), np.stack(weights, axis=1)


# ----- strategies ----------------------------------------------------------------------------------------------------
@st.composite
def float_masks(draw, shape):
    """A float mask of a shape broadcastable to `shape`: 0, a finite number in [-2, 2], or -inf (drop)."""
    mask_shape = draw(S.shapes_broadcastable_to(shape))
    element = st.one_of(st.just(0.0), S.floats(-2.0, 2.0), st.just(-np.inf))
    return draw(hnp.arrays(np.float64, mask_shape, elements=element))


def masks_of(kind, shape):
    if kind == "bool":
        return S.shapes_broadcastable_to(shape).flatmap(S.masks)
    if kind == "float":
        return float_masks(shape)
    return st.none()


@st.composite
def attention_inputs(draw, mask_kinds=MASK_KINDS):
    """query, key, value with broadcasting leading axes (sides <= 2), Tq, Tk, D, Dv <= 3, and a mask."""
    leading = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=2, max_side=2))
    queries, keys, size, value_size = (draw(st.integers(1, 3)) for _ in range(4))
    query_lead, key_lead, value_lead = leading.input_shapes
    query = draw(S.arrays(query_lead + (queries, size), -2.0, 2.0))
    key = draw(S.arrays(key_lead + (keys, size), -2.0, 2.0))
    value = draw(S.arrays(value_lead + (keys, value_size), -2.0, 2.0))
    weights_lead = np.broadcast_shapes(query_lead, key_lead)
    mask = draw(masks_of(draw(st.sampled_from(mask_kinds)), weights_lead + (queries, keys)))
    return query, key, value, mask


# ----- scaled dot-product attention ----------------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None)
@given(attention_inputs(), st.booleans(), st.sampled_from([None, 0.3, 2.0]), st.data())
def test_sdpa_gradient_over_query_key_value_with_broadcast_axes_masks_and_causal(inputs, is_causal, scale, data):
    query, key, value, mask = inputs
    weights_shape = np.broadcast_shapes(query.shape[:-2], key.shape[:-2]) + (query.shape[-2], key.shape[-2])
    output_shape = np.broadcast_shapes(weights_shape[:-2], value.shape[:-2]) + (query.shape[-2], value.shape[-1])
    upstreams = data.draw(S.upstream_gradients(output_shape)), data.draw(S.upstream_gradients(weights_shape))

    def attention(q, k, v):
        outputs = F.scaled_dot_product_attention(q, k, v, mask=mask, is_causal=is_causal, scale=scale,
                                                 return_weights=True)
        return S.projected(outputs, upstreams)

    assert ta.gradcheck(attention, _leaf(query), _leaf(key), _leaf(value))


@settings(max_examples=EXAMPLES, deadline=None)
@given(attention_inputs(), st.booleans(), st.sampled_from([None, 0.5]))
def test_sdpa_equals_the_formula_written_out_in_numpy(inputs, is_causal, scale):
    query, key, value, mask = inputs
    output, weights = F.scaled_dot_product_attention(query, key, value, mask=mask, is_causal=is_causal, scale=scale,
                                                     return_weights=True)
    expected_output, expected_weights = _reference_attention(query, key, value, mask, is_causal, scale)
    np.testing.assert_allclose(weights.data, expected_weights, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(output.data, expected_output, rtol=1e-12, atol=1e-12)


def test_fully_masked_row_gives_zero_weights_zero_output_and_finite_gradients():
    rng = np.random.default_rng(0)
    query, key, value = _leaf(rng.normal(size=(2, 3, 4))), _leaf(rng.normal(size=(2, 4, 4))), _leaf(
        rng.normal(size=(2, 4, 2)))
    mask = np.ones((2, 3, 4), bool)
    mask[0, 1] = False  # query 1 of sequence 0 may see nothing
    mask[1] = False  # sequence 1 sees nothing at all
    output, weights = F.scaled_dot_product_attention(query, key, value, mask=mask, return_weights=True)
    assert np.all(weights.data[0, 1] == 0) and np.all(weights.data[1] == 0)
    assert np.all(output.data[0, 1] == 0) and np.all(output.data[1] == 0)
    output.backward(rng.normal(size=output.shape))
    for leaf in (query, key, value):
        assert np.all(np.isfinite(leaf.grad))
    assert np.all(query.grad[0, 1] == 0) and np.all(key.grad[1] == 0) and np.all(value.grad[1] == 0)
    assert ta.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask=mask), query, key, value)


@pytest.mark.parametrize("queries, keys", [(3, 3), (2, 4), (4, 2)])
def test_causal_output_at_position_i_is_unchanged_when_later_keys_and_values_change(queries, keys):
    rng = np.random.default_rng(1)
    query, key, value = rng.normal(size=(2, queries, 3)), rng.normal(size=(2, keys, 3)), rng.normal(size=(2, keys, 2))
    before = F.scaled_dot_product_attention(query, key, value, is_causal=True).data
    for position in range(queries):
        last_seen = position + keys - queries  # query i sees keys j <= i + (Tk - Tq)
        changed_key, changed_value = key.copy(), value.copy()
        changed_key[:, last_seen + 1:] = rng.normal(size=changed_key[:, last_seen + 1:].shape) * 10
        changed_value[:, last_seen + 1:] = rng.normal(size=changed_value[:, last_seen + 1:].shape) * 10
        after = F.scaled_dot_product_attention(query, changed_key, changed_value, is_causal=True).data
        np.testing.assert_array_equal(after[:, position], before[:, position])
        if last_seen + 1 < keys and last_seen >= 0:
            assert not np.allclose(after[:, position + 1:], before[:, position + 1:])
    if queries > keys:
        assert np.all(before[:, : queries - keys] == 0)  # the first Tq - Tk queries see no key


def test_causal_combines_with_a_key_mask():
    rng = np.random.default_rng(2)
    query, key, value = rng.normal(size=(1, 3, 2)), rng.normal(size=(1, 3, 2)), rng.normal(size=(1, 3, 2))
    mask = np.array([[[False, True, True]]])
    _, weights = F.scaled_dot_product_attention(query, key, value, mask=mask, is_causal=True, return_weights=True)
    allowed = np.tril(np.ones((3, 3), bool)) & mask[0]
    np.testing.assert_array_equal(weights.data[0] > 0, allowed)


@pytest.mark.parametrize("mask_kind", ["bool", "float"])
def test_masked_keys_holding_nan_do_not_leak_into_output_or_gradients(mask_kind):
    rng = np.random.default_rng(3)
    key_data, value_data = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 2))
    key_data[0, 2:], value_data[0, 2:] = np.nan, np.inf  # padding garbage behind the mask
    padded = np.array([[True, True, False, False], [True, True, True, True]])[:, None, :]  # (B, 1, Tk)
    mask = padded if mask_kind == "bool" else np.where(padded, 0.0, -np.inf)
    query, key, value = _leaf(rng.normal(size=(2, 3, 3))), _leaf(key_data), _leaf(value_data)
    output = F.scaled_dot_product_attention(query, key, value, mask=mask)
    assert np.all(np.isfinite(output.data))
    output.backward(rng.normal(size=output.shape))
    for leaf in (query, key, value):
        assert np.all(np.isfinite(leaf.grad))
    assert np.all(key.grad[0, 2:] == 0) and np.all(value.grad[0, 2:] == 0)


def test_float32_inputs_give_float32_outputs_and_gradients():
    rng = np.random.default_rng(4)
    query, key, value = (ta.tensor(rng.normal(size=shape).astype(np.float32), requires_grad=True)
                         for shape in [(2, 2, 3, 4), (2, 1, 3, 4), (1, 2, 3, 2)])
    mask = np.where(np.tril(np.ones((3, 3), bool)), 0.0, -np.inf)  # float64 mask, float32 scores
    output, weights = F.scaled_dot_product_attention(query, key, value, mask=mask, is_causal=True,
                                                     return_weights=True)
    assert output.dtype == np.float32 and weights.dtype == np.float32 and output.shape == (2, 2, 3, 2)
    output.backward(np.ones(output.shape, np.float32))
    assert all(leaf.grad.dtype == np.float32 for leaf in (query, key, value))
    assert key.grad.shape == (2, 1, 3, 4) and value.grad.shape == (1, 2, 3, 2)


def test_large_queries_and_keys_give_finite_weights():
    query = np.full((1, 2, 3), 1e3)
    key = np.array([[[1e3, 1e3, 1e3], [-1e3, -1e3, -1e3]]])
    output, weights = F.scaled_dot_product_attention(query, key, key, return_weights=True)
    assert np.all(np.isfinite(output.data)) and np.allclose(weights.data[..., 0], 1.0)


def test_dropout_draws_from_rng_and_scales_the_kept_weights():
    rng = np.random.default_rng(5)
    query, key, value = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 2))
    output, weights = F.scaled_dot_product_attention(query, key, value, dropout_p=0.4, rng=7, return_weights=True)
    survives = np.random.default_rng(7).random(weights.shape) >= 0.4
    np.testing.assert_allclose(output.data, (weights.data * survives / 0.6) @ value, rtol=1e-12)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0)  # the weights are returned before dropout
    again = F.scaled_dot_product_attention(query, key, value, dropout_p=0.4, rng=7)
    np.testing.assert_array_equal(again.data, output.data)
    plain = F.scaled_dot_product_attention(query, key, value, dropout_p=0.0)
    np.testing.assert_allclose(plain.data, weights.data @ value, rtol=1e-12)


def test_the_same_function_is_reachable_from_functional_and_attention():
    assert F.scaled_dot_product_attention is scaled_dot_product_attention


# ----- multi-head attention ------------------------------------------------------------------------------------------
@st.composite
def multi_head_inputs(draw):
    """A float64 layer (E = 4 with 1 or 2 heads, kdim and vdim 2..4 or E), inputs, masks and a causal flag."""
    heads = draw(st.sampled_from([1, 2]))
    cross = draw(st.booleans())
    kdim, vdim = (draw(st.integers(2, 4)), draw(st.integers(2, 4))) if cross else (None, None)
    layer = MultiHeadAttention(4, heads, kdim=kdim, vdim=vdim, bias=draw(st.booleans()), dtype=np.float64,
                               rng=draw(st.integers(0, 100)))
    batch, queries = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    keys = draw(st.integers(1, 3)) if cross else queries
    query = draw(S.arrays((batch, queries, 4), -2.0, 2.0))
    key = draw(S.arrays((batch, keys, layer.kdim), -2.0, 2.0)) if cross else query
    value = draw(S.arrays((batch, keys, layer.vdim), -2.0, 2.0)) if cross else query
    key_mask = draw(st.none() | S.masks((batch, keys)))
    attn_shape = draw(st.sampled_from([(queries, keys), (batch, heads, queries, keys)]))
    attn_mask = draw(st.sampled_from(MASK_KINDS).flatmap(
        lambda kind: st.none() if kind == "none" else S.masks(attn_shape) if kind == "bool" else hnp.arrays(
            np.float64, attn_shape, elements=st.one_of(st.just(-np.inf), S.floats(-2.0, 2.0)))))
    return layer, query, key, value, key_mask, attn_mask, draw(st.booleans()), cross


def _combined_mask(key_mask, attn_mask, queries, keys, batch, is_causal):
    """The one (B, 1|H, Tq, Tk) float mask the reference uses: -inf where any mask drops a key."""
    mask = np.zeros((batch, 1, queries, keys))
    if key_mask is not None:
        mask = np.where(key_mask[:, None, None, :], mask, -np.inf)
    if attn_mask is not None:
        attn = attn_mask if attn_mask.ndim == 4 else attn_mask[None, None]
        mask = np.where(attn, mask, -np.inf) if attn.dtype == np.bool_ else mask + attn
    if is_causal:
        mask = np.where(np.tril(np.ones((queries, keys), bool), k=keys - queries), mask, -np.inf)
    return mask


@settings(max_examples=30, deadline=None)
@given(multi_head_inputs(), st.data())
def test_multi_head_gradient_over_inputs_and_every_parameter(inputs, data):
    layer, query, key, value, key_mask, attn_mask, is_causal, cross = inputs
    batch, queries = query.shape[:2]
    keys = key.shape[1]
    upstreams = (data.draw(S.upstream_gradients((batch, queries, 4))),
                 data.draw(S.upstream_gradients((batch, layer.num_heads, queries, keys))))
    leaves = [_leaf(query)] + ([_leaf(key), _leaf(value)] if cross else [])
    parameters = list(layer.parameters())

    def attention(*tensors):
        q = tensors[0]
        k, v = (tensors[1], tensors[2]) if cross else (q, q)
        outputs = layer(q, k, v, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal,
                        average_weights=False)
        return S.projected(outputs, upstreams)

    assert ta.gradcheck(attention, *leaves, *parameters)


@settings(max_examples=EXAMPLES, deadline=None)
@given(multi_head_inputs())
def test_multi_head_equals_a_numpy_reimplementation_from_its_own_weights(inputs):
    layer, query, key, value, key_mask, attn_mask, is_causal, _ = inputs
    batch, queries = query.shape[:2]
    mask = _combined_mask(key_mask, attn_mask, queries, key.shape[1], batch, is_causal)
    expected_output, expected_weights = _reference_multi_head(layer, query, key, value, mask)
    output, heads = layer(query, key, value, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal,
                          average_weights=False)
    np.testing.assert_allclose(output.data, expected_output, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(heads.data, expected_weights, rtol=1e-10, atol=1e-12)
    _, averaged = layer(query, key, value, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal)
    np.testing.assert_allclose(averaged.data, expected_weights.mean(axis=1), rtol=1e-10, atol=1e-12)


def test_multi_head_is_float32_by_default_and_returns_the_documented_shapes():
    layer = MultiHeadAttention(6, 3, kdim=5, vdim=2, rng=0)
    assert [name for name, _ in layer.named_children()] == ["query_proj", "key_proj", "value_proj", "out_proj"]
    rng = np.random.default_rng(6)
    query = rng.normal(size=(2, 3, 6)).astype(np.float32)
    key, value = rng.normal(size=(2, 4, 5)).astype(np.float32), rng.normal(size=(2, 4, 2)).astype(np.float32)
    output, weights = layer(query, key, value)
    assert output.shape == (2, 3, 6) and weights.shape == (2, 3, 4)
    assert output.dtype == np.float32 and weights.dtype == np.float32
    _, heads = layer(query, key, value, average_weights=False)
    assert heads.shape == (2, 3, 3, 4)
    _, nothing = layer(query, key, value, need_weights=False)
    assert nothing is None


def test_multi_head_padding_with_nan_does_not_leak_and_fully_padded_rows_stay_finite():
    layer = MultiHeadAttention(4, 2, kdim=3, vdim=2, dtype=np.float64, rng=1)
    rng = np.random.default_rng(7)
    key_data, value_data = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 2))
    key_data[0, 2], value_data[0, 2], value_data[1] = np.nan, np.inf, np.nan  # padding garbage
    key_mask = np.array([[True, True, False], [False, False, False]])
    query, key, value = _leaf(rng.normal(size=(2, 4, 4))), _leaf(key_data), _leaf(value_data)
    output, weights = layer(query, key, value, key_mask=key_mask)
    assert np.all(np.isfinite(output.data))
    assert np.all(weights.data[0, :, 2] == 0) and np.all(weights.data[1] == 0)
    np.testing.assert_allclose(output.data[1], np.broadcast_to(layer.out_proj.bias.data, (4, 4)))
    output.backward(rng.normal(size=output.shape))
    for tensor in [query, key, value, *layer.parameters()]:
        assert np.all(np.isfinite(tensor.grad))
    assert np.all(key.grad[0, 2] == 0) and np.all(value.grad[1] == 0)


def test_multi_head_dropout_only_in_training_mode_and_seeded():
    layer = MultiHeadAttention(4, 2, dropout=0.5, dtype=np.float64, rng=3)
    sequence = np.random.default_rng(8).normal(size=(1, 3, 4))
    layer.eval()
    first, second = layer(sequence, sequence, sequence)[0].data, layer(sequence, sequence, sequence)[0].data
    np.testing.assert_array_equal(first, second)
    layer.train()
    assert not np.allclose(layer(sequence, sequence, sequence)[0].data, first)


# ----- bad input -----------------------------------------------------------------------------------------------------
def _arrays(*shapes, dtype=np.float64):
    return [np.zeros(shape, dtype) for shape in shapes]


@pytest.mark.parametrize("call, error, fragments", [
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (2, 5, 4)), np.zeros((2, 5, 2), np.float32)),
     DTypeError, ["scaled_dot_product_attention", "share a dtype", "value (2, 5, 2) float32",
                  "query (2, 3, 4) float64"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (2, 5, 3), (2, 5, 2))),
     ShapeError, ["feature size D", "query (2, 3, 4) float64", "key (2, 5, 3) float64"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (2, 5, 4), (2, 6, 2))),
     ShapeError, ["number of keys Tk", "key (2, 5, 4)", "value (2, 6, 2)"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (3, 5, 4), (3, 5, 2))),
     ShapeError, ["do not broadcast", "query (2, 3, 4)", "key (3, 5, 4)"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (2, 5, 4), (2, 5, 2)), mask=np.ones((2, 3, 4), bool)),
     ShapeError, ["(2, 3, 5)", "mask (2, 3, 4) bool"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (2, 5, 4), (2, 5, 2)), mask=np.ones((2, 3, 5), int)),
     DTypeError, ["boolean", "mask (2, 3, 5) int64"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((2, 3, 4), (2, 5, 4), (2, 5, 2)), mask=np.full(5, np.nan)),
     ValueError, ["NaN", "mask (5,) float64"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((3, 4), (5, 4), (5, 2), dtype=np.int64)),
     DTypeError, ["needs float", "query (3, 4) int64"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((3, 4), (0, 4), (0, 2))),
     ShapeError, ["at least one key", "key (0, 4)"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((3, 4), (5, 4), (5, 2)), dropout_p=1.0),
     ValueError, ["scaled_dot_product_attention", "dropout_p=1.0"]),
    (lambda: F.scaled_dot_product_attention(*_arrays((3, 4), (5, 4), (5, 2)), scale=np.inf),
     ValueError, ["scaled_dot_product_attention", "scale=inf"]),
])
def test_sdpa_bad_input_names_the_op_shapes_and_dtypes(call, error, fragments):
    S.assert_error_names(error, call, fragments)


def _layer_call(layer, shapes, dtype=np.float64, **masks):
    return lambda: layer(*_arrays(*shapes, dtype=dtype), **masks)


_LAYER = MultiHeadAttention(4, 2, kdim=3, dtype=np.float64, rng=0)


@pytest.mark.parametrize("call, error, fragments", [
    (_layer_call(_LAYER, [(2, 3, 5), (2, 4, 3), (2, 4, 4)]),
     ShapeError, ["MultiHeadAttention", "(E, kdim, vdim) = (4, 3, 4)", "query (2, 3, 5) float64"]),
    (_layer_call(_LAYER, [(2, 3, 4), (2, 4, 3), (2, 4, 4)], dtype=np.float32),
     DTypeError, ["parameters' dtype float64", "query (2, 3, 4) float32"]),
    (_layer_call(_LAYER, [(2, 3, 4), (2, 4, 3), (2, 5, 4)]),
     ShapeError, ["length Tk", "key (2, 4, 3) float64", "value (2, 5, 4) float64"]),
    (_layer_call(_LAYER, [(2, 3, 4), (2, 4, 3), (2, 4, 4)], key_mask=np.ones((2, 4), np.float64)),
     DTypeError, ["key_mask must be boolean", "key_mask (2, 4) float64"]),
    (_layer_call(_LAYER, [(2, 3, 4), (2, 4, 3), (2, 4, 4)], key_mask=np.ones((2, 3), bool)),
     ShapeError, ["(B, Tk) = (2, 4)", "key_mask (2, 3) bool"]),
    (_layer_call(_LAYER, [(2, 3, 4), (2, 4, 3), (2, 4, 4)], attn_mask=np.ones((2, 3, 4), bool)),
     ShapeError, ["(Tq, Tk) = (3, 4)", "(B, H, Tq, Tk) = (2, 2, 3, 4)", "attn_mask (2, 3, 4) bool"]),
    (_layer_call(_LAYER, [(2, 3, 4), (2, 4, 3), (2, 4, 4)], attn_mask=np.ones((3, 4), np.int32)),
     DTypeError, ["attn_mask must be boolean", "attn_mask (3, 4) int32"]),
])
def test_multi_head_bad_input_names_the_op_shapes_and_dtypes(call, error, fragments):
    S.assert_error_names(error, call, fragments)


@pytest.mark.parametrize("arguments, error, fragment", [
    (dict(embed_dim=6, num_heads=4), ValueError, "got embed_dim=6, num_heads=4"),
    (dict(embed_dim=4, num_heads=0), ValueError, "num_heads must be an integer >= 1"),
    (dict(embed_dim=4.0, num_heads=2), TypeError, "embed_dim must be an integer"),
    (dict(embed_dim=4, num_heads=2, dropout=1.5), ValueError, "dropout must be a number in [0, 1)"),
])
def test_multi_head_bad_settings_are_refused_with_their_values(arguments, error, fragment):
    S.assert_error_names(error, lambda: MultiHeadAttention(**arguments), ["MultiHeadAttention", fragment])
