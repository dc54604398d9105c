"""two_way_attention, mutual_attention, both_ways and the input check `pair`: forward, gradients, padding, errors.

The forward passes are compared with the docstrings' formulas written out in NumPy below (loops over the batch and
the positions, a masked softmax written by hand); mutual_attention is also checked against ``attend`` with the dot
score run each way. Every gradient (both inputs) is checked against central differences in float64 on tiny shapes
drawn by Hypothesis, with masks on both sides that include fully padded rows; outputs are projected on random
upstream gradients, never summed. The TensorFlow snippet that two_way_attention's formula comes from is kept here,
taken literally, to show that it attends to nothing.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from two_inputs import check_gradients, masked_softmax, pairs, real_positions, zero_padding

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import _checks, attend, mutual_attention, two_way_attention
from tinyattn.attention.two_way import MutualOutput, TwoWayOutput, both_ways

GRADIENT_EXAMPLES = 50
PROPERTY_EXAMPLES = 30
FUNCTIONS = {"two_way_attention": two_way_attention, "mutual_attention": mutual_attention}


# ----- NumPy references ---------------------------------------------------------------------------------------------
def two_way_reference(x1, x2, mask1, mask2):
    """D = x1 x2^T, A1 = softmax_T1(sum_j D[:, :, j]), A2 = softmax_T2(sum_i D[:, i, :]), attended = A[..., None] x."""
    real1, real2 = real_positions(x1, mask1), real_positions(x2, mask2)
    x1, x2 = zero_padding(x1, mask1), zero_padding(x2, mask2)
    batch, length1, length2 = x1.shape[0], x1.shape[1], x2.shape[1]
    similarity = np.zeros((batch, length1, length2))
    for b in range(batch):
        for i in range(length1):
            for j in range(length2):
                similarity[b, i, j] = np.dot(x1[b, i], x2[b, j])
    weights1 = np.stack([masked_softmax(similarity[b].sum(axis=1), real1[b]) for b in range(batch)])
    weights2 = np.stack([masked_softmax(similarity[b].sum(axis=0), real2[b]) for b in range(batch)])
    return weights1[..., None] * x1, weights2[..., None] * x2, weights1, weights2, similarity


def mutual_reference(x1, x2, mask1, mask2):
    """weights1[i] = softmax over the real j of D[i, j] (zero row for a padded i), weights2 likewise over i."""
    real1, real2 = real_positions(x1, mask1), real_positions(x2, mask2)
    x1, x2 = zero_padding(x1, mask1), zero_padding(x2, mask2)
    batch, length1, length2 = x1.shape[0], x1.shape[1], x2.shape[1]
    similarity = np.einsum("bid,bjd->bij", x1, x2)
    weights1, weights2 = np.zeros((batch, length1, length2)), np.zeros((batch, length2, length1))
    for b in range(batch):
        for i in range(length1):
            if real1[b, i]:
                weights1[b, i] = masked_softmax(similarity[b, i, :], real2[b])
        for j in range(length2):
            if real2[b, j]:
                weights2[b, j] = masked_softmax(similarity[b, :, j], real1[b])
    summary1 = np.einsum("bij,bjd->bid", weights1, x2)
    summary2 = np.einsum("bji,bid->bjd", weights2, x1)
    return summary1, summary2, weights1, weights2, similarity


REFERENCES = {"two_way_attention": two_way_reference, "mutual_attention": mutual_reference}


# ----- strategies ---------------------------------------------------------------------------------------------------
def outputs_and_gradients(function, x1, x2, mask1, mask2, upstreams):
    """The outputs of function(x1, x2, mask1, mask2) and the gradients of their projection on `upstreams`."""
    x1, x2 = ta.tensor(x1, requires_grad=True), ta.tensor(x2, requires_grad=True)
    outputs = function(x1, x2, mask1, mask2)
    S.projected(outputs, upstreams).backward()
    return [output.data for output in outputs], [x1.grad, x2.grad]


# ----- forward against the formulas ---------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_two_way_attention_matches_numpy_reference(case):
    x1, x2, mask1, mask2 = case
    output = two_way_attention(x1, x2, mask1, mask2)
    assert isinstance(output, TwoWayOutput)
    batch, length1, size = x1.shape
    length2 = x2.shape[1]
    expected_shapes = [(batch, length1, size), (batch, length2, size), (batch, length1), (batch, length2),
                       (batch, length1, length2)]
    for got, expected, shape in zip(output, two_way_reference(x1, x2, mask1, mask2), expected_shapes, strict=True):
        assert got.shape == shape and got.dtype == np.float64
        np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-14)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_mutual_attention_matches_numpy_reference(case):
    x1, x2, mask1, mask2 = case
    output = mutual_attention(x1, x2, mask1, mask2)
    assert isinstance(output, MutualOutput)
    batch, length1, size = x1.shape
    length2 = x2.shape[1]
    expected_shapes = [(batch, length1, size), (batch, length2, size), (batch, length1, length2),
                       (batch, length2, length1), (batch, length1, length2)]
    for got, expected, shape in zip(output, mutual_reference(x1, x2, mask1, mask2), expected_shapes, strict=True):
        assert got.shape == shape and got.dtype == np.float64
        np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-14)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_mutual_attention_is_attend_with_the_dot_score_run_each_way(case):
    """Documented: soft attention with the dot score, x1's positions as queries over x2 and x2's over x1 (compared at
    real query positions; a padded query position gets a zero row here, checked on its own)."""
    x1, x2, mask1, mask2 = case
    real1, real2 = real_positions(x1, mask1), real_positions(x2, mask2)
    summary1, summary2, weights1, weights2, _ = mutual_attention(x1, x2, mask1, mask2)
    context1, attend_weights1 = attend(x1, x2, x2, score="dot", mask=mask2)
    context2, attend_weights2 = attend(x2, x1, x1, score="dot", mask=mask1)
    np.testing.assert_allclose(weights1.data[real1], attend_weights1.data[real1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(summary1.data[real1], context1.data[real1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(weights2.data[real2], attend_weights2.data[real2], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(summary2.data[real2], context2.data[real2], rtol=1e-12, atol=1e-14)
    assert np.all(weights1.data[~real1] == 0.0) and np.all(summary1.data[~real1] == 0.0)
    assert np.all(weights2.data[~real2] == 0.0) and np.all(summary2.data[~real2] == 0.0)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_both_functions_share_one_similarity_matrix(case):
    x1, x2, mask1, mask2 = case
    np.testing.assert_array_equal(two_way_attention(x1, x2, mask1, mask2).similarity.data,
                                  mutual_attention(x1, x2, mask1, mask2).similarity.data)


# ----- gradients ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FUNCTIONS))
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(case=pairs(allow_none=False), data=st.data())
def test_gradients_wrt_both_inputs_with_masks_on_both_sides(name, case, data):
    """Every output (weights, attended rows or summaries, similarity) with its own upstream gradient; no parameters."""
    x1, x2, mask1, mask2 = case
    function = FUNCTIONS[name]
    check_gradients(x1, x2, lambda a, b: function(a, b, mask1, mask2), [], data)


# ----- what the docstring of two_way_attention says -----------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs(max_size=3, max_steps=3, low=-1.0, high=1.0, min_steps=2))
def test_the_literal_tensorflow_snippet_is_the_identity_and_two_way_attention_is_not(case):
    """``softmax(expand_dims(reduce_sum(D, axis=2), 2))`` with TensorFlow's softmax over the last axis, of size 1:
    every weight is exactly 1 and x1 comes back unchanged. two_way_attention's weights are a distribution over T1
    instead (each below 1, as T1 >= 2 and |D| is small enough that no weight rounds to 1), the snippet's softmax taken
    over the positions."""
    x1, x2, _, _ = case
    similarity = ta.tensor(x1) @ ta.tensor(x2).swapaxes(1, 2)  # (B, T1, T2)
    literal = F.softmax(similarity.sum(axis=2).expand_dims(2), axis=-1)  # (B, T1, 1), softmax over a size-1 axis
    assert literal.shape == (x1.shape[0], x1.shape[1], 1)
    assert np.all(literal.data == 1.0)
    np.testing.assert_array_equal((literal * x1).data, x1)  # nothing is attended
    output = two_way_attention(x1, x2)
    np.testing.assert_allclose(output.weights1.data.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(output.weights1.data < 1.0) and np.all(output.weights1.data > 0.0)
    shrunk = np.abs(output.attended1.data) < np.abs(x1)  # x1 is re-weighted: every nonzero element shrinks
    assert np.all(shrunk | (x1 == 0.0))
    meant = F.softmax(similarity.sum(axis=2).expand_dims(2), axis=1)[..., 0]  # over the positions T1
    np.testing.assert_allclose(output.weights1.data, meant.data, rtol=1e-12)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_summed_similarity_is_the_dot_product_with_the_sum_of_the_other_input(case):
    """sum_j x1_i . x2_j = x1_i . (sum_j x2_j) over the real positions: A1 = softmax_T1 of x1_i . sum_j x2_j."""
    x1, x2, mask1, mask2 = case
    output = two_way_attention(x1, x2, mask1, mask2)
    hidden1, hidden2 = zero_padding(x1, mask1), zero_padding(x2, mask2)
    summed = output.similarity.data.sum(axis=2)  # (B, T1)
    against_total = np.einsum("bid,bd->bi", hidden1, hidden2.sum(axis=1))
    np.testing.assert_allclose(summed, against_total, rtol=1e-10, atol=1e-12)
    real1 = real_positions(x1, mask1)
    expected = np.stack([masked_softmax(against_total[b], real1[b]) for b in range(x1.shape[0])])
    np.testing.assert_allclose(output.weights1.data, expected, rtol=1e-10, atol=1e-14)
    summed2, against_total2 = output.similarity.data.sum(axis=1), np.einsum("bjd,bd->bj", hidden2, hidden1.sum(axis=1))
    np.testing.assert_allclose(summed2, against_total2, rtol=1e-10, atol=1e-12)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_attended_rows_sum_to_the_weighted_mean_of_the_positions(case):
    """attended1.sum(axis=1) is x1's summary sum_i A1_i x1_i with sum_i A1_i = 1 over the real positions: a weighted
    mean, inside the box of the real positions' values; zero for a row with no real position."""
    x1, x2, mask1, mask2 = case
    output = two_way_attention(x1, x2, mask1, mask2)
    for attended, weights, x, mask in [(output.attended1, output.weights1, x1, mask1),
                                       (output.attended2, output.weights2, x2, mask2)]:
        real = real_positions(x, mask)
        summary = attended.data.sum(axis=1)  # (B, D)
        for b in range(x.shape[0]):
            if not real[b].any():
                assert np.all(summary[b] == 0.0)
                continue
            total = weights.data[b].sum()
            np.testing.assert_allclose(total, 1.0, rtol=1e-12)
            mean = (weights.data[b][real[b], None] * x[b][real[b]]).sum(axis=0) / total
            np.testing.assert_allclose(summary[b], mean, rtol=1e-12, atol=1e-14)
            assert np.all(summary[b] <= x[b][real[b]].max(axis=0) + 1e-12)
            assert np.all(summary[b] >= x[b][real[b]].min(axis=0) - 1e-12)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs(max_size=3, max_steps=3, low=-1.0, high=1.0, allow_none=False), st.integers(2, 3))
def test_repeating_x2_scales_the_summed_similarity_and_sharpens_weights1(case, repeats):
    """A sum, not a mean: x2 repeated k times gives A1 = softmax(k s), never flatter than softmax(s)."""
    x1, x2, mask1, mask2 = case
    output = two_way_attention(x1, x2, mask1, mask2)
    repeated = two_way_attention(x1, np.concatenate([x2] * repeats, axis=1), mask1,
                                 np.concatenate([mask2] * repeats, axis=1))
    real1 = real_positions(x1, mask1)
    summed = output.similarity.data.sum(axis=2)
    expected = np.stack([masked_softmax(repeats * summed[b], real1[b]) for b in range(x1.shape[0])])
    np.testing.assert_allclose(repeated.weights1.data, expected, rtol=1e-10, atol=1e-14)
    assert np.all(repeated.weights1.data.max(axis=1) >= output.weights1.data.max(axis=1) - 1e-12)


# ----- weights and padding ------------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_weights_sum_to_one_over_real_positions_and_padding_gets_exactly_zero(case):
    x1, x2, mask1, mask2 = case
    real1, real2 = real_positions(x1, mask1), real_positions(x2, mask2)
    two_way = two_way_attention(x1, x2, mask1, mask2)
    for weights, attended, real in [(two_way.weights1, two_way.attended1, real1),
                                    (two_way.weights2, two_way.attended2, real2)]:
        assert np.all(weights.data[~real] == 0.0) and np.all(attended.data[~real] == 0.0)
        has_real = real.any(axis=1)
        np.testing.assert_allclose(weights.data[has_real].sum(axis=1), 1.0, rtol=1e-12)
        assert np.all(weights.data[~has_real] == 0.0)
    mutual = mutual_attention(x1, x2, mask1, mask2)
    for weights, summary, rows, columns in [(mutual.weights1, mutual.summary1, real1, real2),
                                            (mutual.weights2, mutual.summary2, real2, real1)]:
        assert np.all(weights.data[np.broadcast_to(~columns[:, None, :], weights.shape)] == 0.0)  # nothing looks there
        assert np.all(weights.data[~rows] == 0.0) and np.all(summary.data[~rows] == 0.0)  # it looks nowhere
        looks = rows & columns.any(axis=1, keepdims=True)  # a real position with something real to look at
        np.testing.assert_allclose(weights.data[looks].sum(axis=-1), 1.0, rtol=1e-12)
        assert np.all(weights.data[~looks] == 0.0) and np.all(summary.data[~looks] == 0.0)


GARBAGE = [np.nan, np.inf, -np.inf, 1e4]


@pytest.mark.parametrize("garbage", GARBAGE, ids=["nan", "inf", "-inf", "1e4"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_garbage_in_padded_positions_changes_no_output_and_gets_zero_gradient(name, garbage):
    """NaN, inf or a huge value where the masks say padding: the outputs and the real positions' gradients are those
    of the same input padded with ones, and the padded positions get exactly zero, finite gradients."""
    rng = np.random.default_rng(11)
    function = FUNCTIONS[name]
    mask1 = np.array([[True, False, True, False], [False] * 4, [True, True, True, True]])  # row 1: all padding
    mask2 = np.array([[False, True, True], [True, False, True], [False] * 3])  # row 2: all padding
    clean1 = np.where(mask1[..., None], rng.standard_normal((3, 4, 3)), 1.0)
    clean2 = np.where(mask2[..., None], rng.standard_normal((3, 3, 3)), 1.0)
    dirty1, dirty2 = clean1.copy(), clean2.copy()
    dirty1[~mask1], dirty2[~mask2] = garbage, garbage
    upstreams = [rng.standard_normal(output.shape) for output in function(clean1, clean2, mask1, mask2)]
    outputs, (grad1, grad2) = outputs_and_gradients(function, clean1, clean2, mask1, mask2, upstreams)
    dirty_outputs, (dirty_grad1, dirty_grad2) = outputs_and_gradients(function, dirty1, dirty2, mask1, mask2,
                                                                      upstreams)
    for got, expected in zip(dirty_outputs, outputs, strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, expected)
    for got, expected, mask in [(dirty_grad1, grad1, mask1), (dirty_grad2, grad2, mask2)]:
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got[mask], expected[mask])
        assert np.all(got[~mask] == 0.0)
        assert np.any(got[mask] != 0.0)


@pytest.mark.parametrize("output_index", range(5), ids=["attended1 or summary1", "attended2 or summary2",
                                                        "weights1", "weights2", "similarity"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_padding_stored_as_zeros_gets_zero_gradient_like_any_other_padding(name, output_index):
    """The function does not depend on a padded position (it is replaced by zeros), so its gradient there is zero
    whatever the position holds, zeros included: a central difference there is 0 too (gradcheck)."""
    rng = np.random.default_rng(16)
    mask1 = np.array([[True, False, True], [True, True, False]])
    mask2 = np.array([[True, True, False, True], [False, True, True, True]])
    x1 = ta.tensor(np.where(mask1[..., None], rng.standard_normal((2, 3, 2)), 0.0), requires_grad=True)
    x2 = ta.tensor(np.where(mask2[..., None], rng.standard_normal((2, 4, 2)), 0.0), requires_grad=True)
    function = FUNCTIONS[name]
    upstream = rng.standard_normal(function(x1, x2, mask1, mask2)[output_index].shape)
    ta.gradcheck(lambda *_: (function(x1, x2, mask1, mask2)[output_index] * upstream).sum(), x1, x2)
    (function(x1, x2, mask1, mask2)[output_index] * upstream).sum().backward()
    assert np.all(x1.grad[~mask1] == 0.0) and np.all(x2.grad[~mask2] == 0.0)


def test_two_way_input_with_no_real_position_gets_zeros_and_the_other_side_uniform_weights():
    """Documented: zero weights and attended rows for the empty side, zero finite gradients to it; its partner's
    positions all score 0, so their weights are uniform over the real ones."""
    rng = np.random.default_rng(12)
    x1 = ta.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    x2 = ta.tensor(rng.standard_normal((2, 4, 4)), requires_grad=True)
    mask1 = np.array([[False] * 3, [True, True, False]])  # row 0 of x1: no real position
    mask2 = np.array([[True, False, True, True], [False] * 4])  # row 1 of x2: no real position
    output = two_way_attention(x1, x2, mask1, mask2)
    assert np.all(output.weights1.data[0] == 0.0) and np.all(output.attended1.data[0] == 0.0)
    assert np.all(output.weights2.data[1] == 0.0) and np.all(output.attended2.data[1] == 0.0)
    np.testing.assert_array_equal(output.weights2.data[0], [1 / 3, 0.0, 1 / 3, 1 / 3])
    np.testing.assert_array_equal(output.weights1.data[1], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(output.attended2.data[0], x2.data[0] * np.array([1 / 3, 0, 1 / 3, 1 / 3])[:, None],
                               rtol=1e-15)
    assert np.all(output.similarity.data[0] == 0.0) and np.all(output.similarity.data[1] == 0.0)
    upstreams = [rng.standard_normal(part.shape) for part in output]
    S.projected(output, upstreams).backward()
    assert np.all(np.isfinite(x1.grad)) and np.all(np.isfinite(x2.grad))
    assert np.all(x1.grad[0] == 0.0) and np.all(x2.grad[1] == 0.0)
    assert np.all(x1.grad[~mask1] == 0.0) and np.all(x2.grad[~mask2] == 0.0)
    # the partner's gradient comes only through its attended rows, A2 * upstream (its weights are constant)
    np.testing.assert_allclose(x2.grad[0], upstreams[1][0] * output.weights2.data[0][:, None], rtol=1e-15)


def test_mutual_side_with_no_real_position_gives_zero_weights_summaries_and_gradients():
    """Documented: a position whose other input has no real position gets zero weights and a zero summary, with zero,
    finite gradients."""
    rng = np.random.default_rng(13)
    x1 = ta.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    x2 = ta.tensor(rng.standard_normal((2, 2, 4)), requires_grad=True)
    mask1 = np.array([[True, True, True], [True, False, True]])
    mask2 = np.array([[False, False], [True, True]])  # row 0: x2 all padding
    output = mutual_attention(x1, x2, mask1, mask2)
    for part in output:
        assert np.all(part.data[0] == 0.0)
    S.projected(output, [rng.standard_normal(part.shape) for part in output]).backward()
    assert np.all(np.isfinite(x1.grad)) and np.all(np.isfinite(x2.grad))
    assert np.all(x1.grad[0] == 0.0) and np.all(x2.grad[0] == 0.0)
    assert np.all(x1.grad[1][mask1[1]].any(axis=-1)) and np.all(x1.grad[1][~mask1[1]] == 0.0)


# The part of each output at the original positions, given T1 and T2 (which axes run over x1's, which over x2's).
REAL_PARTS = {
    "two_way_attention": lambda t1, t2: [np.s_[:, :t1], np.s_[:, :t2], np.s_[:, :t1], np.s_[:, :t2],
                                         np.s_[:, :t1, :t2]],
    "mutual_attention": lambda t1, t2: [np.s_[:, :t1], np.s_[:, :t2], np.s_[:, :t1, :t2], np.s_[:, :t2, :t1],
                                        np.s_[:, :t1, :t2]],
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(allow_none=False), extra1=st.integers(0, 2), extra2=st.integers(1, 2))
def test_appending_padded_positions_changes_nothing_at_the_real_ones(name, case, extra1, extra2):
    """Padding is invisible, not merely down-weighted: outputs at the real positions stay the same and the appended
    positions' weights and rows are zero."""
    x1, x2, mask1, mask2 = case
    function = FUNCTIONS[name]
    output = function(x1, x2, mask1, mask2)
    batch, length1, length2 = x1.shape[0], x1.shape[1], x2.shape[1]
    longer = function(np.concatenate([x1, np.full((batch, extra1, x1.shape[2]), 3.0)], axis=1),
                      np.concatenate([x2, np.full((batch, extra2, x2.shape[2]), -3.0)], axis=1),
                      np.concatenate([mask1, np.zeros((batch, extra1), bool)], axis=1),
                      np.concatenate([mask2, np.zeros((batch, extra2), bool)], axis=1))
    for got, expected, original in zip(longer, output, REAL_PARTS[name](length1, length2), strict=True):
        np.testing.assert_allclose(got.data[original], expected.data, rtol=1e-12, atol=1e-15)
        outside = got.data.copy()
        outside[original] = 0.0
        assert np.all(outside == 0.0)  # appended positions: zero weights, zero rows, zero similarity


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_no_mask_is_the_same_as_all_true_masks(name):
    rng = np.random.default_rng(14)
    x1, x2 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    function = FUNCTIONS[name]
    for unmasked, masked in zip(function(x1, x2), function(x1, x2, np.ones((2, 3), bool), np.ones((2, 5), bool)),
                                strict=True):
        np.testing.assert_array_equal(unmasked.data, masked.data)


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_float32_inputs_give_float32_outputs_and_gradients(name):
    rng = np.random.default_rng(15)
    x1 = ta.tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    x2 = ta.tensor(rng.standard_normal((2, 2, 4)).astype(np.float32), requires_grad=True)
    mask1, mask2 = np.array([[True, False, True], [True] * 3]), np.array([[True, True], [False, True]])
    output = FUNCTIONS[name](x1, x2, mask1, mask2)
    assert all(part.dtype == np.float32 for part in output)
    S.projected(output, [np.ones(part.shape, np.float32) for part in output]).backward()
    assert x1.grad.dtype == np.float32 and x2.grad.dtype == np.float32
    assert np.all(np.isfinite(x1.grad)) and np.any(x1.grad != 0.0)


# ----- both_ways ----------------------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs(), st.booleans(), st.booleans())
def test_both_ways_with_a_missing_mask_is_the_all_true_mask(case, drop1, drop2):
    """both_ways is given each mask or None; None means every position is real."""
    x1, x2, mask1, mask2 = case
    similarity = ta.tensor(np.einsum("bid,bjd->bij", x1, x2))
    mask1 = None if drop1 else mask1
    mask2 = None if drop2 else mask2
    weights1, weights2 = both_ways(similarity, mask1, mask2)
    full1, full2 = both_ways(similarity, real_positions(x1, mask1), real_positions(x2, mask2))
    np.testing.assert_array_equal(weights1.data, full1.data)
    np.testing.assert_array_equal(weights2.data, full2.data)
    assert weights1.shape == similarity.shape and weights2.shape == (x1.shape[0], x2.shape[1], x1.shape[1])


# ----- bad input ----------------------------------------------------------------------------------------------------
def _floats(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


BAD_INPUTS = [
    # (x1, x2, mask1, mask2), error, fragments besides the op
    ((_floats(2, 3, 4), _floats(2, 5, 3), None, None), ShapeError,
     ["same feature size D", "x1 (2, 3, 4) float64", "x2 (2, 5, 3) float64"]),
    ((_floats(2, 3, 4), _floats(3, 5, 4), None, None), ShapeError,
     ["same batch size B", "x1 (2, 3, 4) float64", "x2 (3, 5, 4) float64"]),
    ((_floats(2, 4), _floats(2, 5, 4), None, None), ShapeError, ["(B, T1, D)", "x1 (2, 4) float64"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4, 1), None, None), ShapeError, ["(B, T2, D)", "x2 (2, 5, 4, 1) float64"]),
    ((_floats(2, 0, 4), _floats(2, 5, 4), None, None), ShapeError, ["empty axis", "x1 (2, 0, 4) float64"]),
    ((_floats(2, 3, 4), _floats(2, 5, 0), None, None), ShapeError, ["empty axis", "x2 (2, 5, 0) float64"]),
    ((_floats(0, 3, 4), _floats(0, 5, 4), None, None), ShapeError, ["empty axis", "x1 (0, 3, 4)", "x2 (0, 5, 4)"]),
    ((_floats(2, 3, 4, dtype=np.int64), _floats(2, 5, 4), None, None), DTypeError,
     ["float", "x1 (2, 3, 4) int64", "x2 (2, 5, 4) float64"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4, dtype=np.int32), None, None), DTypeError,
     ["float", "x2 (2, 5, 4) int32"]),
    ((_floats(2, 3, 4, dtype=np.float32), _floats(2, 5, 4), None, None), DTypeError,
     ["share a dtype", "x1 (2, 3, 4) float32", "x2 (2, 5, 4) float64"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4), np.ones((2, 3), np.int64), None), DTypeError,  # 0/1 ints are refused
     ["boolean", "x1 (2, 3, 4) float64", "x2 (2, 5, 4) float64", "mask1 (2, 3) int64"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4), None, np.ones((2, 5))), DTypeError,
     ["boolean", "mask2 (2, 5) float64"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4), np.ones((2, 5), bool), None), ShapeError,
     ["(B, T) = (2, 3)", "mask1 (2, 5) bool"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4), None, np.ones((2, 5, 1), bool)), ShapeError,
     ["(B, T) = (2, 5)", "mask2 (2, 5, 1) bool"]),
    ((_floats(2, 3, 4), _floats(2, 5, 4), np.ones((1, 3), bool), np.ones((2, 5), bool)), ShapeError,
     ["(B, T) = (2, 3)", "mask1 (1, 3) bool", "mask2 (2, 5) bool"]),
]


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("inputs, error, fragments", BAD_INPUTS)
def test_bad_input_raises_an_error_naming_the_op_every_shape_and_dtype(name, inputs, error, fragments):
    S.assert_error_names(error, lambda: FUNCTIONS[name](*inputs), [f"{name}: ", *fragments])


def test_pair_check_returns_tensors_and_masks_and_names_the_callers_inputs():
    x1, x2, mask1, mask2 = _checks.pair("op", _floats(2, 3, 4), _floats(2, 5, 4), np.ones((2, 3), bool), None)
    assert isinstance(x1, ta.Tensor) and isinstance(x2, ta.Tensor) and mask2 is None
    assert isinstance(mask1, np.ndarray) and mask1.dtype == np.bool_
    S.assert_error_names(ShapeError, lambda: _checks.pair("op", _floats(2, 3, 4), _floats(2, 5, 3), None,
                                                          np.ones((2, 5), bool), names=("premise", "hypothesis")),
                         ["op: premise and hypothesis need the same feature size D", "premise (2, 3, 4) float64",
                          "hypothesis (2, 5, 3) float64", "hypothesis_mask (2, 5) bool"])
    # same_size=False allows D1 != D2; a size, when given, still binds both
    _checks.pair("op", _floats(2, 3, 4), _floats(2, 5, 3), None, None, same_size=False)
    S.assert_error_names(ShapeError, lambda: _checks.pair("op", _floats(2, 3, 4), _floats(2, 5, 4), None, None,
                                                          size=3),
                         ["op: expected x1 and x2 of size 3 on their last axis", "x1 (2, 3, 4)", "x2 (2, 5, 4)"])
    S.assert_error_names(DTypeError, lambda: _checks.pair("op", _floats(2, 3, 4), _floats(2, 5, 4), None, None,
                                                          dtype=np.float32),
                         ["op: the inputs are float64 but the parameters are float32", "x1 (2, 3, 4) float64"])
