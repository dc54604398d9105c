"""Score functions and the attention step: formulas, gradients, masks, edge cases and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
from tinyattn.attention import (
    AdditiveScore,
    DotScore,
    GeneralScore,
    LocationScore,
    ScaledDotScore,
    attend,
    make_score,
)

EXAMPLES = 40
SCORE_KINDS = ["dot", "scaled_dot", "general", "additive", "location"]


def _score(kind, query_size, key_size, dtype=np.float64, seed=0):
    return make_score(kind, query_size, key_size, hidden_size=3, max_length=6, dtype=dtype, rng=seed)


def _reference_scores(kind, score, query, keys):
    """The formula of each score in plain NumPy, for a (B, Tq, Dq) query and (B, Tk, Dk) keys."""
    if kind == "dot":
        return np.einsum("bqd,bkd->bqk", query, keys)
    if kind == "scaled_dot":
        return np.einsum("bqd,bkd->bqk", query, keys) / math.sqrt(query.shape[-1])
    if kind == "general":
        return np.einsum("bqd,de,bke->bqk", query, score.weight.data, keys)
    if kind == "additive":
        hidden = np.tanh((query @ score.query_weight.data)[:, :, None, :] + (keys @ score.key_weight.data)[:, None])
        return hidden @ score.vector.data
    return (query @ score.weight.data + score.bias.data)[..., : keys.shape[1]]


@st.composite
def attention_inputs(draw, same_size=True):
    """query (B, Tq, Dq) or (B, Dq), keys (B, Tk, Dk), values (B, Tk, Dv), a key mask (B, Tk) (any pattern, fully
    masked rows included) or None, an upstream gradient for the context."""
    batch, queries, length = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    query_size = draw(st.integers(1, 4))
    key_size = query_size if same_size else draw(st.integers(1, 4))
    value_size = draw(st.integers(1, 4))
    single = draw(st.booleans())
    query = draw(S.arrays((batch, query_size) if single else (batch, queries, query_size), -2, 2))
    keys = draw(S.arrays((batch, length, key_size), -2, 2))
    values = draw(S.arrays((batch, length, value_size)))
    mask = draw(st.none() | S.masks((batch, length)))
    context_shape = query.shape[:-1] + (value_size,)
    upstream = draw(S.upstream_gradients(context_shape))
    weights_upstream = draw(S.upstream_gradients(query.shape[:-1] + (length,)))
    return query, keys, values, mask, upstream, weights_upstream


def _leaves(*arrays):
    return [ta.tensor(np.array(array, np.float64), requires_grad=True) for array in arrays]


# ----- each score is its formula ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SCORE_KINDS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_score_equals_its_formula_for_one_and_many_queries(kind, data):
    query, keys, *_ = data.draw(attention_inputs(same_size=kind in ("dot", "scaled_dot")))
    score = _score(kind, query.shape[-1], keys.shape[-1])
    scores = score(ta.tensor(query), ta.tensor(keys)).data
    query3 = query[:, None, :] if query.ndim == 2 else query
    expected = _reference_scores(kind, score, query3, keys)
    np.testing.assert_allclose(scores, expected[:, 0] if query.ndim == 2 else expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", SCORE_KINDS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_score_gradients_wrt_query_keys_and_parameters_match_central_differences(kind, data):
    query, keys, *_ = data.draw(attention_inputs(same_size=kind in ("dot", "scaled_dot")))
    score = _score(kind, query.shape[-1], keys.shape[-1], seed=data.draw(st.integers(0, 100)))
    query_t, keys_t = _leaves(query, keys)
    upstream = data.draw(S.upstream_gradients(query.shape[:-1] + (keys.shape[1],)))
    assert ta.gradcheck(lambda *_: score(query_t, keys_t), query_t, keys_t, *score.parameters(),
                        grad_output=upstream)


def test_additive_score_with_projected_keys_given_equals_computing_them():
    rng = np.random.default_rng(0)
    score = AdditiveScore(3, 5, 4, dtype=np.float64, rng=1)
    query, keys = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 6, 5))
    np.testing.assert_array_equal(score(query, keys, projected_keys=score.project_keys(keys)).data,
                                  score(query, keys).data)


def test_scaled_dot_keeps_the_score_variance_near_one_for_any_size():
    rng = np.random.default_rng(0)
    for size in (4, 64, 1024):
        query, keys = rng.standard_normal((1, 200, size)), rng.standard_normal((1, 200, size))
        scaled = ScaledDotScore()(query, keys).data
        plain = DotScore()(query, keys).data
        assert 0.8 < scaled.var() < 1.2
        assert 0.8 * size < plain.var() < 1.2 * size


# ----- attend ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SCORE_KINDS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_attend_gradients_with_masks_and_fully_masked_rows_match_central_differences(kind, data):
    query, keys, values, mask, upstream, weights_upstream = data.draw(
        attention_inputs(same_size=kind in ("dot", "scaled_dot")))
    score = _score(kind, query.shape[-1], keys.shape[-1])
    query_t, keys_t, values_t = _leaves(query, keys, values)

    def context_and_weights(*_):
        context, weights = attend(query_t, keys_t, values_t, score, mask=mask)
        # one scalar covering both outputs: the weights are an output too (they are drawn and read)
        return (context * upstream).sum() + (weights * weights_upstream).sum()

    assert ta.gradcheck(context_and_weights, query_t, keys_t, values_t, *score.parameters())


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_attend_is_the_softmax_weighted_sum_of_values(data):
    query, keys, values, mask, *_ = data.draw(attention_inputs())
    context, weights = attend(query, keys, values, "scaled_dot", mask=mask)
    query3 = query[:, None, :] if query.ndim == 2 else query
    scores = _reference_scores("scaled_dot", None, query3, keys)
    keep = np.ones(keys.shape[:2], bool) if mask is None else mask
    scores = np.where(keep[:, None, :], scores, -np.inf)
    peak = np.max(scores, axis=-1, keepdims=True)
    exps = np.exp(scores - np.where(np.isfinite(peak), peak, 0.0))
    totals = exps.sum(axis=-1, keepdims=True)
    expected = np.divide(exps, totals, out=np.zeros_like(exps), where=totals > 0)
    expected_context = expected @ values
    if query.ndim == 2:
        expected, expected_context = expected[:, 0], expected_context[:, 0]
    np.testing.assert_allclose(weights.data, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(context.data, expected_context, rtol=1e-12, atol=1e-12)


def test_masked_keys_get_exactly_zero_weight_and_their_keys_and_values_zero_gradient():
    rng = np.random.default_rng(0)
    query, keys, values = _leaves(rng.standard_normal((2, 3, 4)), 50 * rng.standard_normal((2, 5, 4)),
                                  rng.standard_normal((2, 5, 3)))
    mask = np.array([[True, True, False, True, False], [False, True, True, True, True]])
    context, weights = attend(query, keys, values, "dot", mask=mask)
    assert np.all(weights.data[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, rtol=1e-12)
    (context * rng.standard_normal(context.shape)).sum().backward()
    assert np.all(keys.grad[~mask] == 0.0) and np.all(values.grad[~mask] == 0.0)
    assert np.all(np.isfinite(query.grad))


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_fully_masked_row_gives_zero_weights_zero_context_and_finite_zero_gradients(kind):
    rng = np.random.default_rng(1)
    score = _score(kind, 4, 4)
    query, keys, values = _leaves(rng.standard_normal((2, 4)), rng.standard_normal((2, 3, 4)),
                                  rng.standard_normal((2, 3, 2)))
    mask = np.array([[False, False, False], [True, False, True]])
    context, weights = attend(query, keys, values, score, mask=mask)
    np.testing.assert_array_equal(weights.data[0], 0.0)
    np.testing.assert_array_equal(context.data[0], 0.0)
    (context * rng.standard_normal(context.shape)).sum().backward()
    if kind == "location":
        assert keys.grad is None  # the location score reads only the number of keys
        keys.grad = np.zeros(keys.shape)
    for tensor in (query, keys, values, *score.parameters()):
        assert np.all(np.isfinite(tensor.grad))
    np.testing.assert_array_equal(query.grad[0], 0.0)
    np.testing.assert_array_equal(keys.grad[0], 0.0)
    np.testing.assert_array_equal(values.grad[0], 0.0)
    assert np.any(query.grad[1] != 0.0)


def test_huge_queries_and_keys_give_finite_one_hot_weights_not_inf_minus_inf():
    query = ta.tensor(np.full((1, 1, 4), 1e4), requires_grad=True)
    keys = ta.tensor(np.array([[[1e4] * 4, [-1e4] * 4, [1e4] * 4]]), requires_grad=True)
    values = ta.tensor(np.arange(6.0).reshape(1, 3, 2))
    context, weights = attend(query, keys, values, "scaled_dot", mask=np.array([[True, True, False]]))
    np.testing.assert_array_equal(weights.data, [[[1.0, 0.0, 0.0]]])
    np.testing.assert_array_equal(context.data, [[[0.0, 1.0]]])
    context.sum().backward()
    assert np.all(np.isfinite(query.grad)) and np.all(np.isfinite(keys.grad))


def test_a_single_key_gets_weight_one_and_the_query_no_gradient():
    rng = np.random.default_rng(2)
    query, keys, values = _leaves(rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 1, 4)),
                                  rng.standard_normal((3, 1, 5)))
    context, weights = attend(query, keys, values, "dot")
    np.testing.assert_array_equal(weights.data, 1.0)
    np.testing.assert_array_equal(context.data, np.broadcast_to(values.data, context.shape))
    (context * rng.standard_normal(context.shape)).sum().backward()
    np.testing.assert_array_equal(query.grad, 0.0)


def test_equal_scores_give_uniform_weights_and_the_mean_of_the_values():
    values = np.arange(12.0).reshape(1, 4, 3)
    context, weights = attend(np.zeros((1, 2)), np.ones((1, 4, 2)), values, "dot")
    np.testing.assert_allclose(weights.data, 0.25, rtol=1e-15)
    np.testing.assert_allclose(context.data, values.mean(axis=1), rtol=1e-15)


def test_a_two_dimensional_query_equals_a_single_step_of_a_three_dimensional_one():
    rng = np.random.default_rng(3)
    score = AdditiveScore(4, 4, 3, dtype=np.float64, rng=0)
    query, keys, values = rng.standard_normal((2, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    mask = np.array([[True, False, True, True, True], [True, True, True, False, False]])
    context, weights = attend(query, keys, values, score, mask=mask)
    context3, weights3 = attend(query[:, None], keys, values, score, mask=mask)
    np.testing.assert_array_equal(context.data, context3.data[:, 0])
    np.testing.assert_array_equal(weights.data, weights3.data[:, 0])


def test_a_three_dimensional_mask_sets_a_pattern_per_query_and_float_masks_add_to_the_scores():
    rng = np.random.default_rng(4)
    query, keys, values = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 2))
    causal = np.tril(np.ones((3, 3), bool))[None]  # (1, Tq, Tk): query i sees keys 0..i
    _, weights = attend(query, keys, values, "dot", mask=causal)
    assert np.all(weights.data[:, ~causal[0]] == 0.0)
    additive = np.where(causal, 0.0, -np.inf)
    _, weights_additive = attend(query, keys, values, "dot", mask=additive)
    np.testing.assert_allclose(weights_additive.data, weights.data, rtol=1e-14)


def test_a_callable_score_is_used_as_given():
    calls = []

    def negative_distance(query, keys):
        calls.append(1)
        return -((query[:, :, None, :] - keys[:, None, :, :]) ** 2).sum(axis=-1)

    rng = np.random.default_rng(5)
    keys = rng.standard_normal((1, 4, 2))
    query = keys[:, [2]] + 1e-3  # nearest to key 2
    _, weights = attend(query, keys, rng.standard_normal((1, 4, 3)), negative_distance)
    assert calls and weights.data[0, 0].argmax() == 2


@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_float32_inputs_and_parameters_give_float32_weights_context_and_gradients(kind):
    rng = np.random.default_rng(6)
    score = _score(kind, 4, 4, dtype=np.float32)
    query, keys, values = (ta.tensor(rng.standard_normal(shape), dtype=np.float32, requires_grad=True)
                           for shape in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    context, weights = attend(query, keys, values, score, mask=np.array([[True] * 5, [True, True, False, False, True]]))
    assert context.dtype == weights.dtype == np.float32
    (context * 1.5).sum().backward()
    assert query.grad.dtype == values.grad.dtype == np.float32
    assert keys.grad is None if kind == "location" else keys.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in score.parameters())


# ----- padding cannot leak ----------------------------------------------------------------------------------------
GARBAGE = np.array([np.nan, np.inf, -np.inf, 1e300])  # what a padding buffer may hold
KEY_MASK = np.array([[True, False, True, True, False], [False] * 5, [True, True, False, True, True]])  # row 1: none
LEAK_MASKS = ["key mask", "float key mask", "3-D mask", "3-D float mask", "shared 3-D mask"]


def _leak_mask(kind, queries):
    """A mask over 5 keys for a batch of 3 and `queries` queries, of `kind`, with keys masked for every query of
    their row (the padding), batch row 1 masked entirely, and in the 3-D masks with two queries key 3 hidden from
    query 0 only (so it is real data, attended by query 1)."""
    rng = np.random.default_rng(12)
    per_query = np.repeat(KEY_MASK[:, None, :], queries, axis=1)  # (B, Tq, Tk)
    if queries > 1:
        per_query[:, 0, 3] = False
    masks = {
        "key mask": KEY_MASK,
        "float key mask": np.where(KEY_MASK, rng.uniform(-1, 1, KEY_MASK.shape), -np.inf),  # finite biases kept
        "3-D mask": per_query,
        "3-D float mask": np.where(per_query, 0.0, -np.inf),
        "shared 3-D mask": per_query[:1],  # (1, Tq, Tk): batch row 0's pattern for every row
    }
    return masks[kind]


def _padding(mask, batch, length):
    """(B, Tk) True at the keys no query may attend to: False (or -inf) for every query of their row."""
    kept = mask if mask.dtype == np.bool_ else mask != -np.inf
    kept = kept[:, None, :] if kept.ndim == 2 else kept
    return np.broadcast_to(~kept.any(axis=1), (batch, length))


def _attend_outputs_and_gradients(kind, query, keys, values, mask, upstreams):
    """attend's context and weights, and the gradients of their projection on `upstreams` with respect to the query,
    the keys, the values and the parameters of a fresh score (zeros where no gradient reaches)."""
    score = _score(kind, query.shape[-1], keys.shape[-1])
    leaves = _leaves(query, keys, values)
    context, weights = attend(*leaves, score, mask=mask)
    S.projected([context, weights], upstreams).backward()
    tensors = [*leaves, *score.parameters()]
    return [context.data, weights.data], [np.zeros(t.shape) if t.grad is None else t.grad for t in tensors]


@pytest.mark.parametrize("single", [False, True], ids=["3-D query", "2-D query"])
@pytest.mark.parametrize("mask_kind", LEAK_MASKS)
@pytest.mark.parametrize("kind", SCORE_KINDS)
def test_nan_and_inf_in_masked_keys_and_values_change_no_output_and_no_gradient(kind, mask_kind, single):
    rng = np.random.default_rng(13)
    batch, queries, length = 3, 1 if single else 2, 5
    mask = _leak_mask(mask_kind, queries)
    query = rng.standard_normal((batch, 4) if single else (batch, queries, 4))
    padding = _padding(mask, batch, length)
    clean_keys = np.where(padding[..., None], 0.0, rng.standard_normal((batch, length, 4)))
    clean_values = np.where(padding[..., None], 0.0, rng.standard_normal((batch, length, 3)))
    dirty_keys, dirty_values = clean_keys.copy(), clean_values.copy()
    dirty_keys[padding] = np.resize(GARBAGE, dirty_keys[padding].shape)
    dirty_values[padding] = np.resize(GARBAGE[::-1], dirty_values[padding].shape)
    upstreams = [rng.standard_normal(query.shape[:-1] + (3,)), rng.standard_normal(query.shape[:-1] + (length,))]

    outputs, gradients = _attend_outputs_and_gradients(kind, query, clean_keys, clean_values, mask, upstreams)
    dirty_outputs, dirty_gradients = _attend_outputs_and_gradients(kind, query, dirty_keys, dirty_values, mask,
                                                                   upstreams)
    for dirty, clean in zip(dirty_outputs + dirty_gradients, outputs + gradients, strict=True):
        assert np.all(np.isfinite(dirty))
        np.testing.assert_array_equal(dirty, clean)
    context, weights = dirty_outputs
    if mask.shape[0] == batch:  # batch row 1 has no key at all: zero weights, zero context
        np.testing.assert_array_equal(context[1], 0.0)
        np.testing.assert_array_equal(weights[1], 0.0)
    _, dirty_keys_grad, dirty_values_grad, *_ = dirty_gradients
    np.testing.assert_array_equal(dirty_keys_grad[padding], 0.0)
    np.testing.assert_array_equal(dirty_values_grad[padding], 0.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_float_mask_holding_nan_or_plus_inf_is_refused_naming_the_op_and_the_first_bad_position(bad):
    rng = np.random.default_rng(14)
    query, keys, values = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    mask = np.zeros((2, 3, 5))
    mask[0, 1, 1] = -np.inf  # allowed: drops the key
    mask[1, 2, 3] = mask[1, 2, 4] = bad
    with pytest.raises(ValueError) as caught:
        attend(query, keys, values, mask=mask)
    assert not isinstance(caught.value, (ta.ShapeError, ta.DTypeError))  # the shape and dtype are right
    message = str(caught.value)
    assert message.startswith("attend: a float mask holds finite numbers")
    assert f"mask[1, 2, 3] is {bad}" in message
    assert message.endswith("; got query (2, 3, 4) float64, keys (2, 5, 4) float64, values (2, 5, 2) float64, "
                            "mask (2, 3, 5) float64")
    key_mask = np.zeros((2, 5), np.float32)
    key_mask[1, 0] = bad
    with pytest.raises(ValueError, match=r"^attend: .*mask\[1, 0\] is"):
        attend(query, keys, values, mask=key_mask)
    mask[1, 2, 3:] = -np.inf
    _, weights = attend(query, keys, values, mask=mask)  # -inf stays allowed
    assert weights.data[0, 1, 1] == 0.0 and np.all(weights.data[1, 2, 3:] == 0.0)


SCORE_SIZES = {  # (make the score with the size under test = value, the op, the size's name)
    "GeneralScore-query_size": (lambda value: GeneralScore(value, 3), "GeneralScore", "query_size"),
    "GeneralScore-key_size": (lambda value: GeneralScore(3, value), "GeneralScore", "key_size"),
    "AdditiveScore-query_size": (lambda value: AdditiveScore(value, 3, 2), "AdditiveScore", "query_size"),
    "AdditiveScore-key_size": (lambda value: AdditiveScore(3, value, 2), "AdditiveScore", "key_size"),
    "AdditiveScore-hidden_size": (lambda value: AdditiveScore(3, 3, value), "AdditiveScore", "hidden_size"),
    "LocationScore-query_size": (lambda value: LocationScore(value, 3), "LocationScore", "query_size"),
    "LocationScore-max_length": (lambda value: LocationScore(3, value), "LocationScore", "max_length"),
    "make_score-dot": (lambda value: make_score("dot", value, value), "make_score", "query_size"),
    "make_score-general": (lambda value: make_score("general", 3, value), "make_score", "key_size"),
    "make_score-additive": (lambda value: make_score("additive", 3, 3, hidden_size=value), "make_score",
                            "hidden_size"),
    "make_score-location": (lambda value: make_score("location", 3, 3, max_length=value), "make_score",
                            "max_length"),
}
BAD_SIZES = [(0, ValueError), (-2, ValueError), (2.0, TypeError), (2.5, TypeError), (True, TypeError),
             ("3", TypeError), (np.float64(3), TypeError)]


@pytest.mark.parametrize("value, error", BAD_SIZES)
@pytest.mark.parametrize("case", list(SCORE_SIZES))
def test_score_constructors_refuse_sizes_that_are_not_positive_integers_naming_the_argument(case, value, error):
    make, op, name = SCORE_SIZES[case]
    with pytest.raises(error) as caught:
        make(value)
    assert type(caught.value) is error  # not a ZeroDivisionError or "math domain error" from an initialiser
    message = str(caught.value)
    assert message.startswith(f"{op}: {name} must be an integer")
    assert f"got {name}={value!r}" in message


@pytest.mark.parametrize("case", list(SCORE_SIZES))
def test_score_constructors_take_python_and_numpy_integers(case):
    make, _, _ = SCORE_SIZES[case]
    for value in (1, np.int64(3), np.uint8(2)):
        assert isinstance(make(value), ta.attention.Score)


# ----- bad input --------------------------------------------------------------------------------------------------
def _bad_calls():
    rng = np.random.default_rng(7)
    query, keys, values = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    return {
        "dot-size-mismatch": (lambda: attend(query[..., :3], keys, values, "dot"), "feature size"),
        "batch-mismatch": (lambda: attend(query[:1], keys, values), "batch size"),
        "keys-2d": (lambda: attend(query, keys[:, 0], values), "keys (B, Tk, Dk)"),
        "values-length": (lambda: attend(query, keys, values[:, :4]), "values must be (B, Tk, Dv)"),
        "integer-query": (lambda: attend(query.astype(np.int64), keys, values), "int64"),
        "mixed-dtypes": (lambda: attend(query.astype(np.float32), keys, values), "share a dtype"),
        "mask-shape": (lambda: attend(query, keys, values, mask=np.ones((2, 4), bool)), "key mask (B, Tk)"),
        "mask-dtype": (lambda: attend(query, keys, values, mask=np.ones((2, 5), np.int64)), "boolean"),
        "mask-3d-shape": (lambda: attend(query, keys, values, mask=np.ones((2, 2, 5), bool)), "broadcast"),
        "no-keys": (lambda: attend(query, keys[:, :0], values[:, :0]), "at least one key"),
        "unknown-score": (lambda: make_score("cosine", 4, 4), "unknown score"),
        "named-score-needing-parameters": (lambda: attend(query, keys, values, "general"), "make_score"),
        "general-size": (lambda: GeneralScore(3, 4)(query.astype(np.float32), keys.astype(np.float32)), "size 3"),
        "location-too-long": (lambda: LocationScore(4, 3, dtype=np.float64)(query, keys), "max_length=3"),
        "parameter-dtype": (lambda: GeneralScore(4, 4)(query, keys), "float32"),
        "score-shape": (lambda: attend(query, keys, values, lambda q, k: q @ q.swapaxes(1, 2)), "expected (2, 3, 5)"),
        "values-dtype": (lambda: attend(query, keys, values.astype(np.float32)), "values and keys must share a dtype"),
        "dot-sizes": (lambda: make_score("dot", 3, 4), "query_size (3) must equal key_size (4)"),
        "location-without-max-length": (lambda: make_score("location", 4, 4), "pass max_length"),
    }


@pytest.mark.parametrize("case", list(_bad_calls()))
def test_bad_input_raises_a_clear_error_naming_the_operation_and_shapes(case):
    call, expected_text = _bad_calls()[case]
    with pytest.raises((ta.ShapeError, ta.DTypeError, ValueError, TypeError)) as error:
        call()
    assert expected_text in str(error.value)


def _error_cases():
    """(call, error class, operation, what is wrong, the inputs as the message must name them)."""
    rng = np.random.default_rng(8)
    query, keys, values = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    float32_keys = keys.astype(np.float32)
    return {
        "values-dtype": (lambda: attend(query, keys, values.astype(np.float32)), ta.DTypeError, "attend",
                         "values and keys must share a dtype",
                         "query (2, 3, 4) float64, keys (2, 5, 4) float64, values (2, 5, 2) float32"),
        "integer-mask": (lambda: attend(query[:, 0], keys, values, mask=np.ones((2, 5), np.int64)), ta.DTypeError,
                         "attend", "mask must be boolean",
                         "query (2, 4) float64, keys (2, 5, 4) float64, values (2, 5, 2) float64, mask (2, 5) int64"),
        "mixed-dtypes": (lambda: DotScore()(query, float32_keys), ta.DTypeError, "DotScore",
                         "query and keys must share a dtype", "query (2, 3, 4) float64, keys (2, 5, 4) float32"),
        "dot-size": (lambda: ScaledDotScore()(query[..., :3], keys), ta.ShapeError, "ScaledDotScore",
                     "the same feature size D", "query (2, 3, 3) float64, keys (2, 5, 4) float64"),
        "parameter-dtype": (lambda: AdditiveScore(4, 4, 2)(query[:, 0], keys), ta.DTypeError, "AdditiveScore",
                            "the query is float64 but the parameters are float32",
                            "query (2, 4) float64, keys (2, 5, 4) float64"),
        "too-many-keys": (lambda: LocationScore(4, 3, dtype=np.float64)(query, keys), ta.ShapeError, "LocationScore",
                          "5 keys, but this score was made for at most max_length=3",
                          "query (2, 3, 4) float64, keys (2, 5, 4) float64"),
        "score-shape": (lambda: attend(query, keys, values, lambda q, k: k.sum(axis=-1)), ta.ShapeError, "attend",
                        "the score function returned (2, 5); expected (2, 3, 5)",
                        "query (2, 3, 4) float64, keys (2, 5, 4) float64, scores (2, 5) float64"),
    }


@pytest.mark.parametrize("case", list(_error_cases()))
def test_each_error_names_the_operation_what_is_wrong_and_every_input_shape_and_dtype(case):
    call, error, operation, what, inputs = _error_cases()[case]
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(f"{operation}: ")
    assert what in message
    assert message.endswith(f"; got {inputs}")
