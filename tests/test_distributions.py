"""Categorical and Normal: values against NumPy references, samples against their distributions, gradients, errors.

Probabilities, log-probabilities and entropies are compared with the formulas written out in NumPy below; samples
with the probabilities they should follow by Pearson's chi-square test (the survival function is computed here, exactly,
for integer degrees of freedom); every gradient against central differences in float64 on small shapes drawn by
Hypothesis, masked positions and fully masked rows included, outputs projected on random upstream gradients.

Statistical tests use fixed seeds. Each chi-square test fails when its p-value is below ALPHA = 1e-6, so a correct
sampler fails one of them with probability about 1e-6 per seed; there are 8 of them in this module (3 rows for each of
two ways of drawing, 2 pair distributions: about 8e-6 in all), and each also checks that it rejects a slightly wrong
distribution, so that it can fail.
"""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import strategies as S
import tinyattn as ta
import tinyattn.random as tr
from tinyattn import DTypeError, IndexOpError, ShapeError
from tinyattn.distributions import Categorical, Normal

GRADIENT_EXAMPLES = 40
PROPERTY_EXAMPLES = 40
ALPHA = 1e-6  # chi-square tests reject below this p-value: the false-failure rate of each, for a correct sampler


# ----- NumPy references ---------------------------------------------------------------------------------------------
def allowed_positions(logits, mask):
    return np.ones(np.shape(logits), bool) if mask is None else np.broadcast_to(mask, np.shape(logits))


def log_softmax_reference(logits, mask):
    """log softmax over the allowed positions of the last axis, in float64; -inf where masked (and on empty rows)."""
    allowed = allowed_positions(logits, mask)
    shifted = np.where(allowed, np.asarray(logits, np.float64), -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    shifted = shifted - np.where(np.isfinite(top), top, 0.0)
    total = np.sum(np.exp(shifted), axis=-1, keepdims=True)
    return shifted - np.log(np.where(total > 0, total, 1.0))  # an empty row stays -inf


def softmax_reference(logits, mask):
    return np.exp(log_softmax_reference(logits, mask))


def entropy_reference(logits, mask):
    log_probs = log_softmax_reference(logits, mask)
    with np.errstate(invalid="ignore"):  # 0 * -inf at masked positions, discarded by the where
        return -np.sum(np.where(np.isfinite(log_probs), np.exp(log_probs) * log_probs, 0.0), axis=-1)


def without_replacement_reference(probs, indices):
    """P(indices in this order) = prod_j p(i_j) / (1 - p(i_1) - ... - p(i_{j-1})), for one row of probs."""
    result, taken = 1.0, 0.0
    for index in indices:
        result *= probs[index] / (1.0 - taken)
        taken += probs[index]
    return result


def normal_log_prob_reference(value, loc, scale):
    return -((value - loc) ** 2) / (2 * scale**2) - np.log(scale) - 0.5 * np.log(2 * np.pi)


# ----- chi-square, without scipy --------------------------------------------------------------------------------------
def chi_square_survival(statistic, dof):
    """P(X >= statistic) for X ~ chi-square(dof), dof a positive integer: the regularised upper incomplete gamma
    Q(dof/2, statistic/2), by the recurrence Q(a+1, y) = Q(a, y) + y^a e^-y / Gamma(a+1) from Q(1, y) = e^-y (even
    dof) or Q(1/2, y) = erfc(sqrt y) (odd dof)."""
    half = statistic / 2.0
    if dof % 2 == 0:
        shape, survival = 1.0, math.exp(-half)
    else:
        shape, survival = 0.5, math.erfc(math.sqrt(half))
    term = math.exp(shape * math.log(half) - half - math.lgamma(shape + 1)) if half > 0 else 0.0
    while shape < dof / 2:
        survival += term
        shape += 1.0
        term *= half / shape
    return min(survival, 1.0)


def chi_square_p_value(counts, probs):
    """The p-value of Pearson's statistic for `counts` drawn from `probs`. Cells of probability 0 are left out (their
    counts are checked to be 0 apart); every other cell must expect at least 5 draws for the test to be valid."""
    counts, probs = np.asarray(counts, np.float64), np.asarray(probs, np.float64)
    cells = probs > 0
    assert counts[~cells].sum() == 0, "a cell of probability 0 was drawn"
    expected = counts.sum() * probs[cells] / probs[cells].sum()
    assert expected.min() >= 5, "too few draws for the chi-square approximation"
    if cells.sum() == 1:
        return 1.0
    statistic = float(np.sum((counts[cells] - expected) ** 2 / expected))
    return chi_square_survival(statistic, int(cells.sum()) - 1)


def tempered(probs, factor=1.15):
    """A slightly wrong distribution, softmax(factor * log p) over the same support: a chi-square test that cannot
    tell it from `probs` with the sample sizes used here would have no power."""
    with np.errstate(divide="ignore"):
        weights = np.where(probs > 0, np.exp(factor * np.log(probs)), 0.0)
    return weights / weights.sum(axis=-1, keepdims=True)


# ----- strategies -----------------------------------------------------------------------------------------------------
@st.composite
def categorical_inputs(draw, empty_rows=False, nan_behind_mask=True):
    """(logits (..., T) float64, mask broadcastable to them or None): batch of ndim 0..2 with sides up to 3, T in 1..6,
    logits in [-5, 5]. Every row allows a position unless `empty_rows`; masked logits are sometimes NaN."""
    batch = draw(S.shapes(min_dims=0, max_dims=2, max_side=3), label="batch")
    positions = draw(st.integers(1, 6), label="T")
    shape = batch + (positions,)
    logits = draw(S.arrays(shape), label="logits")
    if not draw(st.booleans(), label="masked"):
        return logits, None
    mask_shape = draw(S.shapes_broadcastable_to(shape), label="mask shape")
    if len(mask_shape) == 0 or mask_shape[-1] == 1:  # a mask that does not vary along T: keep every position
        mask = np.ones(mask_shape, bool)
    else:
        mask = draw(S.masks(mask_shape), label="mask")
        kept = draw(hnp.arrays(np.int64, mask_shape[:-1], elements=st.integers(0, positions - 1)), label="kept")
        np.put_along_axis(mask, kept[..., None], True, axis=-1)  # at least one allowed position per row
        if empty_rows and mask.ndim >= 2 and draw(st.booleans(), label="empty row"):
            mask[tuple(draw(st.integers(0, side - 1)) for side in mask.shape[:-1])] = False
    if nan_behind_mask and draw(st.booleans(), label="NaN behind the mask"):
        logits = np.where(allowed_positions(logits, mask), logits, np.nan)
    return logits, mask


@st.composite
def allowed_indices(draw, allowed, count):
    """`count` distinct allowed positions per row, (count, ...): the top `count` of drawn scores over the allowed
    positions. Every row of `allowed` (..., T) must allow `count` positions."""
    scores = draw(S.arrays(allowed.shape, 0.0, 1.0), label="index scores")
    order = np.argsort(-np.where(allowed, scores, -np.inf), axis=-1, kind="stable")[..., :count]  # (..., count)
    return np.moveaxis(order, -1, 0)  # (count, ...)


def check_gradient(function, logits, upstream, allowed):
    """gradcheck of `function(logits)` projected on `upstream`; then the gradient of masked logits is exactly 0."""
    x = ta.tensor(logits, requires_grad=True)
    assert ta.gradcheck(function, x, grad_output=upstream)
    function(x).backward(upstream)
    assert np.isfinite(x.grad).all()
    assert (x.grad[~allowed] == 0).all()


# ----- Categorical: probabilities, log-probabilities, entropy ---------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(inputs=categorical_inputs(empty_rows=True), dtype=st.sampled_from([np.float32, np.float64]))
def test_probs_equal_masked_softmax_reference_and_keep_the_dtype(inputs, dtype):
    logits, mask = inputs
    logits = logits.astype(dtype)
    dist = Categorical(logits, mask=mask)
    allowed = allowed_positions(logits, mask)
    probs = dist.probs.data
    assert probs.dtype == dtype and dist.log_probs.dtype == dtype and dist.entropy().dtype == dtype
    assert probs.shape == logits.shape and dist.batch_shape == logits.shape[:-1]
    tolerance = {np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(probs, softmax_reference(logits, mask), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dist.entropy().data, entropy_reference(logits, mask), rtol=tolerance, atol=tolerance)
    assert (probs[~allowed] == 0).all()
    assert (dist.log_probs.data[~allowed] == -np.inf).all()
    nonempty = allowed.any(axis=-1)
    np.testing.assert_allclose(probs.sum(axis=-1)[nonempty], 1.0, rtol=0, atol=10 * tolerance)
    assert (probs.sum(axis=-1)[~nonempty] == 0).all()


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(inputs=categorical_inputs(), data=st.data())
def test_log_prob_of_drawn_index_equals_log_softmax_reference(inputs, data):
    logits, mask = inputs
    dist = Categorical(logits, mask=mask)
    count = data.draw(st.integers(1, 3), label="n")
    index = data.draw(hnp.arrays(np.int64, (count,) + logits.shape[:-1], elements=st.integers(0, logits.shape[-1] - 1)),
                      label="index")
    expected = np.take_along_axis(np.broadcast_to(log_softmax_reference(logits, mask), index.shape + logits.shape[-1:]),
                                  index[..., None], axis=-1)[..., 0]
    got = dist.log_prob(index).data
    assert got.shape == index.shape
    masked = expected == -np.inf
    assert (got[masked] == -np.inf).all()
    np.testing.assert_allclose(got[~masked], expected[~masked], rtol=1e-12, atol=1e-12)


def test_entropy_of_row_with_one_allowed_position_is_zero_with_zero_finite_gradient():
    logits = ta.tensor([[0.3, -1.2, 2.0, 0.7], [1.0, 4.0, -3.0, 0.5]], requires_grad=True)
    mask = np.array([[False, False, True, False], [True, True, True, True]])
    entropy = Categorical(logits, mask=mask).entropy()
    assert entropy.data[0] == 0
    entropy.backward(np.array([1.7, 0.0]))
    assert (logits.grad == 0).all()


@pytest.mark.parametrize("allowed_count", [1, 2, 3, 5])
def test_entropy_of_uniform_logits_over_m_allowed_positions_is_log_m(allowed_count):
    logits = ta.tensor(np.full((2, 5), 0.75), requires_grad=True)
    mask = np.arange(5) < allowed_count
    entropy = Categorical(logits, mask=mask).entropy()
    np.testing.assert_allclose(entropy.data, math.log(allowed_count), rtol=1e-14, atol=1e-15)
    entropy.backward(np.array([0.6, -1.3]))
    np.testing.assert_allclose(logits.grad, 0.0, atol=1e-15)  # the uniform distribution maximises the entropy


def test_argmax_picks_highest_allowed_logit_and_ignores_masked_ones():
    logits = np.array([[0.1, 9.0, 0.5, 0.4], [3.0, 3.0, -1.0, 2.0], [-7.0, -2.0, -5.0, -3.0]])
    mask = np.array([[True, False, True, True], [True, True, True, True], [True, False, True, True]])
    argmax = Categorical(logits, mask=mask).argmax()
    np.testing.assert_array_equal(argmax, [2, 0, 3])  # a tie goes to the first
    assert argmax.dtype.kind == "i"


# ----- Categorical: shapes --------------------------------------------------------------------------------------------
def test_sample_shapes_are_batch_for_k_none_and_samples_first_for_k_n():
    dist = Categorical(np.zeros((2, 3, 4)))
    rng = np.random.default_rng(0)
    assert np.shape(dist.sample(rng)) == (2, 3)
    assert dist.sample(rng, k=5).shape == (5, 2, 3)
    assert dist.sample(rng, k=1).shape == (1, 2, 3)
    assert dist.sample(rng, k=4, replace=False).shape == (4, 2, 3)
    assert dist.sample(rng, k=5).dtype == np.int64
    unbatched = Categorical(np.zeros(4))
    assert np.shape(unbatched.sample(rng)) == ()
    assert unbatched.sample(rng, k=3).shape == (3,)
    assert unbatched.sample(rng, k=3, replace=False).shape == (3,)


def test_log_prob_broadcasts_samples_axis_against_batch():
    logits = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]])  # (B=2, T=3)
    dist = Categorical(logits)
    log_probs = log_softmax_reference(logits, None)
    index = np.array([[0, 2], [1, 1], [2, 0], [0, 0]])  # (n=4, B=2)
    np.testing.assert_allclose(dist.log_prob(index).data, log_probs[np.arange(2), index], rtol=1e-14)
    column = np.array([[2], [0], [1]])  # (n=3, 1) against B=2: the same index for both rows
    np.testing.assert_allclose(dist.log_prob(column).data, log_probs[np.arange(2), column], rtol=1e-14)
    assert dist.log_prob(column).shape == (3, 2)
    assert dist.log_prob(np.array(1)).shape == (2,)
    assert dist.log_prob(ta.tensor(index)).shape == (4, 2)


def test_log_prob_of_masked_index_is_minus_inf_with_finite_gradient():
    logits = ta.tensor([[0.5, 30.0, 2.0], [1.5, 0.0, -0.3]], requires_grad=True)
    dist = Categorical(logits, mask=np.array([True, False, True]))
    log_prob = dist.log_prob(np.array([1, 2]))
    assert log_prob.data[0] == -np.inf and np.isfinite(log_prob.data[1])
    log_prob.backward(np.array([0.8, -0.4]))
    assert np.isfinite(logits.grad).all()
    assert (logits.grad[0] == 0).all() and (logits.grad[:, 1] == 0).all()


# ----- Categorical: gradients -----------------------------------------------------------------------------------------
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=categorical_inputs(), data=st.data())
def test_log_prob_gradient_matches_central_differences(inputs, data):
    logits, mask = inputs
    allowed = allowed_positions(logits, mask)
    count = data.draw(st.sampled_from([None, 1, 2]), label="n")
    index = data.draw(allowed_indices(allowed, 1), label="index")[0]  # (...)
    if count is not None:
        index = np.stack([index] + [data.draw(allowed_indices(allowed, 1))[0] for _ in range(count - 1)])
    upstream = data.draw(S.upstream_gradients(index.shape), label="upstream")
    check_gradient(lambda x: Categorical(x, mask=mask).log_prob(index), logits, upstream, allowed)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=categorical_inputs(empty_rows=True), data=st.data())
def test_entropy_gradient_matches_central_differences(inputs, data):
    logits, mask = inputs
    upstream = data.draw(S.upstream_gradients(logits.shape[:-1]), label="upstream")
    check_gradient(lambda x: Categorical(x, mask=mask).entropy(), logits, upstream, allowed_positions(logits, mask))


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=categorical_inputs(empty_rows=True), data=st.data())
def test_probs_gradient_matches_central_differences(inputs, data):
    logits, mask = inputs
    upstream = data.draw(S.upstream_gradients(logits.shape), label="upstream")
    check_gradient(lambda x: Categorical(x, mask=mask).probs, logits, upstream, allowed_positions(logits, mask))


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=categorical_inputs(), data=st.data())
def test_log_prob_without_replacement_gradient_matches_central_differences(inputs, data):
    logits, mask = inputs
    allowed = allowed_positions(logits, mask)
    count = data.draw(st.integers(1, int(allowed.sum(axis=-1).min())), label="n")
    indices = data.draw(allowed_indices(allowed, count), label="indices")  # (n, ...) distinct per row
    upstream = data.draw(S.upstream_gradients(logits.shape[:-1]), label="upstream")
    check_gradient(lambda x: Categorical(x, mask=mask).log_prob_without_replacement(indices), logits, upstream,
                   allowed)


@st.composite
def single_rows(draw):
    """(logits (T,), mask (T,) or None) with T in 1..5 and at least one allowed position."""
    positions = draw(st.integers(1, 5), label="T")
    logits = draw(S.arrays((positions,)), label="logits")
    if not draw(st.booleans(), label="masked"):
        return logits, None
    mask = draw(S.masks((positions,)), label="mask")
    mask[draw(st.integers(0, positions - 1), label="kept")] = True
    return logits, mask


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(inputs=single_rows(), data=st.data())
def test_without_replacement_probabilities_of_all_ordered_tuples_sum_to_one(inputs, data):
    logits, mask = inputs
    positions = logits.shape[0]
    allowed = allowed_positions(logits, mask)
    count = data.draw(st.integers(1, min(3, int(allowed.sum()))), label="k")
    tuples = np.array(list(itertools.product(range(positions), repeat=count))).T  # (k, T^k): every ordered tuple
    dist = Categorical(np.broadcast_to(logits, (tuples.shape[1], positions)), mask=mask)
    probabilities = np.exp(dist.log_prob_without_replacement(tuples).data)  # (T^k,)
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=0, atol=1e-12)
    probs = softmax_reference(logits, mask)
    expected = [without_replacement_reference(probs, column) if len(set(column)) == count else 0.0
                for column in tuples.T]
    np.testing.assert_allclose(probabilities, expected, rtol=1e-10, atol=1e-300)
    repeated = np.array([len(set(column)) < count for column in tuples.T])
    assert (probabilities[repeated] == 0).all()
    if count == 1:
        np.testing.assert_allclose(dist.log_prob_without_replacement(tuples).data, dist.log_prob(tuples[0]).data,
                                   rtol=1e-14)


# ----- Categorical: sampling follows the distribution -----------------------------------------------------------------
SAMPLING_LOGITS = np.array([[0.5, -1.0, 2.0, 0.0], [1.0, 10.0, 0.0, -0.5], [3.0, -2.0, 0.1, 1.0]])  # (3, 4)
SAMPLING_MASK = np.array([[True, True, True, True], [True, False, True, True], [True, True, True, True]])


def check_rows_follow(draws, probs):
    """Per row of `probs` (B, T): the counts of `draws` (N, B) pass the chi-square test, never touch a masked position,
    and would fail it against a tempered (wrong) distribution."""
    for row in range(probs.shape[0]):
        counts = np.bincount(draws[:, row], minlength=probs.shape[1])
        assert (counts[probs[row] == 0] == 0).all()
        assert chi_square_p_value(counts, probs[row]) > ALPHA
        assert chi_square_p_value(counts, tempered(probs[row])) < ALPHA  # power


def test_k_draws_with_replacement_follow_probs_chi_square():
    dist = Categorical(SAMPLING_LOGITS, mask=SAMPLING_MASK)
    draws = dist.sample(np.random.default_rng(20240601), k=20_000)  # (N, 3)
    check_rows_follow(draws, softmax_reference(SAMPLING_LOGITS, SAMPLING_MASK))


def test_repeated_single_draws_follow_probs_chi_square():
    dist = Categorical(SAMPLING_LOGITS, mask=SAMPLING_MASK)
    rng = np.random.default_rng(7)
    draws = np.stack([dist.sample(rng) for _ in range(10_000)])  # (N, 3)
    check_rows_follow(draws, softmax_reference(SAMPLING_LOGITS, SAMPLING_MASK))


@pytest.mark.parametrize("logits, mask", [
    (np.array([0.8, 0.0, -0.6, 0.3]), None),
    (np.array([0.8, 0.0, 12.0, -0.6, 0.3]), np.array([True, True, False, True, True])),
], ids=["four positions", "four of five allowed"])
def test_gumbel_top_k_pairs_follow_log_prob_without_replacement_chi_square(logits, mask):
    draws_count, positions = 20_000, logits.shape[0]
    many = Categorical(np.broadcast_to(logits, (draws_count, positions)), mask=mask)
    first, second = many.sample(np.random.default_rng(99), k=2, replace=False)  # each (N,)
    allowed = allowed_positions(logits, mask)
    assert (first != second).all() and allowed[first].all() and allowed[second].all()
    counts = np.bincount(first * positions + second, minlength=positions**2)  # ordered pairs
    pairs = np.array(list(itertools.product(range(positions), repeat=2))).T  # (2, T^2)
    every_pair = Categorical(np.broadcast_to(logits, (pairs.shape[1], positions)), mask=mask)
    pair_probs = np.exp(every_pair.log_prob_without_replacement(pairs).data)  # (T^2,)
    assert chi_square_p_value(counts, pair_probs) > ALPHA
    # Power: with-replacement pairs conditioned on being distinct, p_i p_j / (1 - sum p^2), are a plausible mistake.
    probs = softmax_reference(logits, mask)
    conditioned = np.where(pairs[0] != pairs[1], probs[pairs[0]] * probs[pairs[1]], 0.0)
    assert chi_square_p_value(counts, conditioned / conditioned.sum()) < ALPHA


def test_sampling_without_replacement_gives_distinct_allowed_indices_per_row():
    logits = np.random.default_rng(5).normal(size=(6, 3, 5)) * 3
    mask = np.random.default_rng(6).random((6, 3, 5)) < 0.7
    mask[..., 0] = mask[..., 1] = mask[..., 2] = True
    dist = Categorical(logits, mask=mask)
    for seed in range(20):
        indices = dist.sample(np.random.default_rng(seed), k=3, replace=False)  # (3, 6, 3)
        assert np.take_along_axis(mask, np.moveaxis(indices, 0, -1), axis=-1).all()
        ordered = np.sort(indices, axis=0)
        assert (np.diff(ordered, axis=0) != 0).all()


def test_chi_square_survival_matches_table_values():
    # 95% and 99.9% quantiles of the chi-square distribution (standard tables).
    for statistic, dof, survival in [(3.841459, 1, 0.05), (5.991465, 2, 0.05), (7.814728, 3, 0.05),
                                     (11.070498, 5, 0.05), (19.675138, 11, 0.05), (10.827566, 1, 0.001),
                                     (31.264134, 11, 0.001), (13.815511, 2, 0.001)]:
        assert chi_square_survival(statistic, dof) == pytest.approx(survival, rel=1e-5)
    assert chi_square_survival(0.0, 4) == 1.0


# ----- Categorical: seeds ---------------------------------------------------------------------------------------------
@pytest.fixture
def restored_default_generator():
    """Leave tinyattn's default generator as the test found it."""
    state = tr.get_state()
    yield
    tr.set_state(state)


@pytest.mark.parametrize("options", [{}, {"k": 50}, {"k": 3, "replace": False}], ids=["k=None", "k=50", "top-3"])
def test_same_seed_repeats_samples_bit_for_bit_and_other_seed_differs(options):
    dist = Categorical(SAMPLING_LOGITS, mask=SAMPLING_MASK)
    first = dist.sample(np.random.default_rng(123), **options)
    np.testing.assert_array_equal(first, dist.sample(np.random.default_rng(123), **options))
    np.testing.assert_array_equal(first, dist.sample(123, **options))  # an int seed makes the same generator
    # Another seed gives other draws: 100 copies of the rows agreeing by chance has probability far below 1e-30.
    many = Categorical(np.broadcast_to(SAMPLING_LOGITS, (100, 3, 4)), mask=SAMPLING_MASK)
    reference = many.sample(np.random.default_rng(123), **options)
    for seed in (124, 0):
        assert not np.array_equal(many.sample(np.random.default_rng(seed), **options), reference)


def test_manual_seed_repeats_default_generator_samples(restored_default_generator):
    dist = Categorical(SAMPLING_LOGITS, mask=SAMPLING_MASK)
    ta.manual_seed(2024)
    first, second = dist.sample(k=100), dist.sample(k=2, replace=False)
    ta.manual_seed(2024)
    np.testing.assert_array_equal(first, dist.sample(k=100))
    np.testing.assert_array_equal(second, dist.sample(k=2, replace=False))
    assert not np.array_equal(first, dist.sample(k=100))  # the stream moves on
    ta.manual_seed(2025)
    assert not np.array_equal(first, dist.sample(k=100))


# ----- Categorical: fully masked rows ---------------------------------------------------------------------------------
def test_fully_masked_row_has_zero_probs_zero_entropy_and_finite_gradients():
    logits = ta.tensor([[0.2, -0.7, 1.1], [4.0, 0.5, -2.0]], requires_grad=True)
    mask = np.array([[True, False, True], [False, False, False]])
    dist = Categorical(logits, mask=mask)
    assert (dist.probs.data[1] == 0).all()
    assert dist.entropy().data[1] == 0
    total = (dist.entropy() * np.array([0.9, -1.4])).sum() + (dist.probs * np.array([[0.3, 1.0, -0.8]])).sum()
    total.backward()
    assert np.isfinite(logits.grad).all()
    assert (logits.grad[1] == 0).all() and (logits.grad[0, 1] == 0)
    assert (logits.grad[0] != 0).any()


def test_sampling_a_fully_masked_row_raises_value_error_naming_the_row():
    dist = Categorical(np.zeros((2, 3, 4)), mask=np.arange(24).reshape(2, 3, 4) // 4 != 4)  # row (1, 1) masked
    for options in [{}, {"k": 2}, {"k": 2, "replace": False}]:
        with pytest.raises(ValueError, match=r"Categorical\.sample.*row \(1, 1\).*\(2, 3, 4\)"):
            dist.sample(np.random.default_rng(0), **options)


def test_sampling_more_distinct_positions_than_allowed_raises_value_error():
    dist = Categorical(np.zeros((2, 3)), mask=np.array([[True, True, True], [True, False, True]]))
    with pytest.raises(ValueError, match=r"Categorical\.sample.*row \(1,\).*k=3"):
        dist.sample(np.random.default_rng(0), k=3, replace=False)
    assert dist.sample(np.random.default_rng(0), k=3, replace=True).shape == (3, 2)  # with replacement it is fine


# ----- Categorical: numeric edge cases --------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_huge_logits_and_gap_20_keep_log_prob_entropy_and_gradients_finite(kernels, scale):
    logits = ta.tensor([[scale, -scale, 0.0], [20.0, 0.0, 0.0], [-scale, -scale, scale]], requires_grad=True)
    dist = Categorical(logits, mask=np.array([True, True, True]))
    index = np.array([[0, 1, 1], [1, 0, 0], [2, 2, 2]])  # (3, 3): includes the vanishing positions
    log_prob = dist.log_prob(index)
    expected = np.take_along_axis(log_softmax_reference(logits.data, None), index.T, axis=-1).T
    np.testing.assert_allclose(log_prob.data, expected, rtol=1e-12)
    assert log_prob.data[1, 0] == -2 * scale
    entropy = dist.entropy()
    assert np.isfinite(entropy.data).all()
    np.testing.assert_allclose(entropy.data, entropy_reference(logits.data, None), rtol=1e-6, atol=1e-300)
    loss = ((log_prob * np.array([[0.3, -1.1, 0.7], [1.2, 0.4, -0.5], [0.9, -0.2, 0.6]])).sum()
            + (entropy * np.array([1.3, -0.7, 0.5])).sum())
    loss.backward()
    assert np.isfinite(logits.grad).all()
    assert np.isfinite(dist.sample(np.random.default_rng(0), k=2, replace=False)).all()


def test_float32_logits_work_end_to_end(kernels):
    logits = ta.tensor(np.array([[0.5, -1.0, 2.0, 0.0], [300.0, -300.0, 1.0, 0.2]], np.float32), requires_grad=True)
    dist = Categorical(logits, mask=np.array([True, True, False, True]))
    draws = dist.sample(np.random.default_rng(1), k=6)
    assert draws.shape == (6, 2) and (draws != 2).all()
    top = dist.sample(np.random.default_rng(1), k=3, replace=False)
    log_prob, entropy = dist.log_prob(draws), dist.entropy()
    joint = dist.log_prob_without_replacement(top)
    assert log_prob.dtype == entropy.dtype == joint.dtype == dist.probs.dtype == np.float32
    loss = ((log_prob * np.float32(0.5)).sum() + (entropy * np.array([1.0, -2.0], np.float32)).sum()
            + (joint * np.array([0.7, 0.3], np.float32)).sum())
    loss.backward()
    assert logits.grad.dtype == np.float32 and logits.grad.shape == (2, 4)
    assert np.isfinite(logits.grad).all() and (logits.grad[:, 2] == 0).all()


def test_nan_logits_behind_the_mask_are_harmless(kernels):
    logits = ta.tensor([[0.5, np.nan, 2.0, -0.3], [np.inf, 1.0, -np.inf, np.nan]], requires_grad=True)
    mask = np.array([[True, False, True, True], [False, True, False, False]])
    dist = Categorical(logits, mask=mask)
    np.testing.assert_allclose(dist.probs.data, softmax_reference(np.nan_to_num(logits.data), mask), rtol=1e-14)
    assert dist.entropy().data[1] == 0
    draws = dist.sample(np.random.default_rng(3), k=500)
    assert mask[np.arange(2), draws].all()
    np.testing.assert_array_equal(dist.argmax(), [2, 1])
    loss = ((dist.entropy() * np.array([0.4, 1.5])).sum() + (dist.log_prob(draws[:3]) * 0.3).sum()
            + (dist.probs * np.array([[1.0, -0.5, 0.2, 0.8]])).sum())
    loss.backward()
    assert np.isfinite(logits.grad).all() and (logits.grad[~mask] == 0).all()


# ----- Categorical: bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("logits, mask, error, pattern", [
    (np.array([[1, 2, 3], [4, 5, 6]]), None, DTypeError, r"Categorical.*float.*\(2, 3\) int64"),
    (np.array(1.5), None, ShapeError, r"Categorical.*logits \(\) float64"),
    (np.zeros((2, 0)), None, ShapeError, r"Categorical.*logits \(2, 0\)"),
    (np.zeros((2, 3)), np.array([1, 0, 1]), DTypeError, r"Categorical.*mask.*boolean.*mask \(3,\) int64"),
    (np.zeros((2, 3)), np.ones(4, bool), ShapeError, r"Categorical.*broadcast.*logits \(2, 3\).*mask \(4,\)"),
    (np.zeros((2, 3)), np.ones((5, 2, 3), bool), ShapeError, r"Categorical.*mask \(5, 2, 3\)"),
    (np.array([[0.0, np.nan, 1.0]]), None, ValueError, r"Categorical.*finite.*logits \(1, 3\)"),
    (np.array([[0.0, np.inf, 1.0]]), np.array([True, True, False]), ValueError, r"Categorical.*finite"),
    (np.array([[0.0, -np.inf, 1.0]]), None, ValueError, r"Categorical.*mask=False"),
], ids=["integer logits", "0-d logits", "empty last axis", "integer mask", "mask does not broadcast",
        "mask larger than logits", "NaN allowed", "inf allowed", "-inf allowed"])
def test_bad_categorical_input_raises_naming_the_op_and_shapes(logits, mask, error, pattern):
    with pytest.raises(error, match=pattern):
        Categorical(logits, mask=mask)


@pytest.mark.parametrize("index, error, pattern", [
    (np.array([0.0, 1.0]), DTypeError, r"Categorical\.log_prob.*integers.*index \(2,\) float64"),
    (np.array([True, False]), DTypeError, r"Categorical\.log_prob.*integers"),
    (np.array([0, 3]), IndexOpError, r"Categorical\.log_prob.*\[0, 3\).*from 0 to 3"),
    (np.array([-1, 0]), IndexOpError, r"Categorical\.log_prob.*\[0, 3\).*from -1 to 0"),
    (np.zeros((4, 3), np.int64), ShapeError, r"Categorical\.log_prob.*batch shape \(2,\).*index \(4, 3\)"),
], ids=["float", "bool", "too large", "negative", "does not broadcast"])
def test_bad_indices_to_log_prob_raise_naming_the_op_and_shapes(index, error, pattern):
    dist = Categorical(np.zeros((2, 3)))
    with pytest.raises(error, match=pattern):
        dist.log_prob(index)


def test_out_of_range_index_error_is_an_index_error():
    dist = Categorical(np.zeros((2, 3)))
    with pytest.raises(IndexError):
        dist.log_prob(np.array([0, 5]))
    with pytest.raises(IndexError, match=r"Categorical\.log_prob_without_replacement"):
        dist.log_prob_without_replacement(np.array([[0, 3]]))


def test_log_prob_without_replacement_rejects_indices_without_samples_axis():
    dist = Categorical(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match=r"Categorical\.log_prob_without_replacement.*\(n, \.\.\.\).*indices \(2,\)"):
        dist.log_prob_without_replacement(np.array([0, 1]))
    with pytest.raises(DTypeError, match=r"Categorical\.log_prob_without_replacement"):
        dist.log_prob_without_replacement(np.array([[0.0, 1.0]]))


@pytest.mark.parametrize("k, error", [(0, ValueError), (-2, ValueError), (True, TypeError), (1.5, TypeError),
                                      ("2", TypeError)])
def test_bad_k_raises(k, error):
    dist = Categorical(np.zeros((2, 3)))
    with pytest.raises(error, match=r"Categorical\.sample.*k"):
        dist.sample(np.random.default_rng(0), k=k)
    with pytest.raises(error, match=r"Categorical\.sample.*k"):
        dist.sample(np.random.default_rng(0), k=k, replace=False)


def test_numpy_integer_k_is_accepted():
    assert Categorical(np.zeros((2, 3))).sample(np.random.default_rng(0), k=np.int64(4)).shape == (4, 2)


def test_categorical_does_not_mutate_its_inputs():
    logits = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]])
    mask = np.array([[True, True, False], [True, True, True]])
    indices = np.array([[1, 2], [0, 0]])
    saved = logits.copy(), mask.copy(), indices.copy()
    dist = Categorical(logits, mask=mask)
    dist.sample(np.random.default_rng(0), k=2, replace=False)
    dist.log_prob_without_replacement(indices)
    dist.log_prob(indices)
    for before, after in zip(saved, (logits, mask, indices), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(dist.allowed, mask)  # the remaining-positions bookkeeping works on a copy


# ----- Normal ---------------------------------------------------------------------------------------------------------
@st.composite
def normal_inputs(draw):
    """(loc, scale, value) float64 with scale broadcasting to loc and value broadcasting against loc; scale in
    [0.3, 3] keeps log scale and 1/scale^2 well conditioned for central differences."""
    loc_shape = draw(S.shapes(max_dims=2, max_side=3), label="loc shape")
    scale_shape = draw(S.shapes_broadcastable_to(loc_shape), label="scale shape")
    value_shape = draw(st.sampled_from([loc_shape, (2,) + loc_shape, loc_shape[1:]]), label="value shape")
    return (draw(S.arrays(loc_shape), label="loc"), draw(S.positive_arrays(scale_shape, 0.3, 3.0), label="scale"),
            draw(S.arrays(value_shape), label="value"))


def test_normal_sample_shapes_and_sample_is_a_plain_array():
    loc = ta.tensor(np.zeros((2, 3)), requires_grad=True)
    dist = Normal(loc, 0.5)
    rng = np.random.default_rng(0)
    assert dist.sample(rng).shape == (2, 3) and dist.sample(rng, k=4).shape == (4, 2, 3)
    assert type(dist.sample(rng)) is np.ndarray and type(dist.sample(rng, k=2)) is np.ndarray
    assert dist.rsample(rng).shape == (2, 3) and dist.rsample(rng, k=4).shape == (4, 2, 3)
    assert isinstance(dist.rsample(rng), ta.Tensor) and dist.rsample(rng).requires_grad


def test_normal_rsample_equals_sample_for_the_same_seed_and_seeds_repeat():
    dist = Normal(np.array([0.5, -2.0, 1.0]), np.array([0.1, 2.0, 1.0]))
    sample = dist.sample(np.random.default_rng(8), k=5)
    np.testing.assert_array_equal(sample, dist.sample(np.random.default_rng(8), k=5))
    np.testing.assert_array_equal(sample, dist.rsample(np.random.default_rng(8), k=5).data)
    assert not np.array_equal(sample, dist.sample(np.random.default_rng(9), k=5))


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=normal_inputs(), count=st.sampled_from([None, 2]), data=st.data())
def test_normal_rsample_gradient_in_loc_and_scale_matches_central_differences(inputs, count, data):
    loc, scale, _ = inputs
    shape = loc.shape if count is None else (count,) + loc.shape
    upstream = data.draw(S.upstream_gradients(shape), label="upstream")
    loc, scale = ta.tensor(loc, requires_grad=True), ta.tensor(scale, requires_grad=True)
    # A fresh generator with one seed in every call: the same eps, so x is a smooth function of loc and scale.
    assert ta.gradcheck(lambda m, s: Normal(m, s).rsample(np.random.default_rng(17), k=count), loc, scale,
                        grad_output=upstream)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=normal_inputs(), data=st.data())
def test_normal_log_prob_matches_closed_form_and_central_differences(inputs, data):
    loc, scale, value = inputs
    expected = normal_log_prob_reference(value, loc, scale)
    np.testing.assert_allclose(Normal(loc, scale).log_prob(value).data, expected, rtol=1e-12, atol=1e-12)
    upstream = data.draw(S.upstream_gradients(expected.shape), label="upstream")
    tensors = [ta.tensor(array, requires_grad=True) for array in (loc, scale, value)]
    assert ta.gradcheck(lambda m, s, v: Normal(m, s).log_prob(v), *tensors, grad_output=upstream)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(inputs=normal_inputs(), data=st.data())
def test_normal_entropy_matches_closed_form_and_central_differences(inputs, data):
    loc, scale, _ = inputs
    entropy = Normal(loc, scale).entropy()
    expected = np.broadcast_to(0.5 + 0.5 * np.log(2 * np.pi) + np.log(scale), loc.shape)
    np.testing.assert_allclose(entropy.data, expected, rtol=1e-13, atol=1e-13)
    upstream = data.draw(S.upstream_gradients(loc.shape), label="upstream")
    assert ta.gradcheck(lambda s: Normal(loc, s).entropy(), ta.tensor(scale, requires_grad=True), grad_output=upstream)


@pytest.mark.parametrize("method", ["sample", "rsample"])
def test_normal_samples_have_mean_loc_and_std_scale_within_five_standard_errors(method):
    # z = (estimate - truth) / standard error for 3 means and 3 standard deviations; |z| > 5 happens by chance with
    # probability about 6e-7 each (the std's standard error scale / sqrt(2N) is exact enough at N = 20,000), so
    # about 4e-6 for this test with its fixed seed.
    loc, scale, draws_count = np.array([0.5, -3.0, 10.0]), np.array([0.2, 1.0, 4.0]), 20_000
    draws = getattr(Normal(loc, scale), method)(np.random.default_rng(31), k=draws_count)
    draws = draws.data if isinstance(draws, ta.Tensor) else draws
    mean_z = (draws.mean(axis=0) - loc) / (scale / math.sqrt(draws_count))
    std_z = (draws.std(axis=0, ddof=1) - scale) / (scale / math.sqrt(2 * draws_count))
    assert np.abs(mean_z).max() < 5 and np.abs(std_z).max() < 5
    # Power: a location off by a tenth of a standard deviation, or a spread off by 5%, is caught.
    assert np.abs((draws.mean(axis=0) - (loc + 0.1 * scale)) / (scale / math.sqrt(draws_count))).min() > 5
    assert np.abs((draws.std(axis=0, ddof=1) - 1.05 * scale) / (scale / math.sqrt(2 * draws_count))).min() > 5


def test_normal_float32_loc_and_scale_keep_float32():
    loc = ta.tensor(np.array([0.5, -1.0], np.float32), requires_grad=True)
    dist = Normal(loc, np.array([0.3, 2.0], np.float32))
    rng = np.random.default_rng(0)
    assert dist.sample(rng).dtype == dist.rsample(rng).dtype == np.float32
    assert dist.log_prob(np.zeros(2, np.float32)).dtype == dist.entropy().dtype == np.float32
    dist.log_prob(dist.sample(rng, k=3)).backward(np.ones((3, 2), np.float32))
    assert loc.grad.dtype == np.float32 and np.isfinite(loc.grad).all()


def test_normal_float32_loc_with_python_float_scale_keeps_float32():
    dist = Normal(np.array([0.5, -1.0], np.float32), 0.5)
    rng = np.random.default_rng(0)
    assert dist.sample(rng).dtype == np.float32
    assert dist.rsample(rng).dtype == np.float32
    assert dist.log_prob(np.zeros(2, np.float32)).dtype == np.float32
    assert dist.entropy().dtype == np.float32


def test_normal_integer_scale_is_cast_to_loc_dtype():
    dist = Normal(np.zeros(2, np.float32), 2)
    assert dist.scale.dtype == np.float32 and dist.sample(np.random.default_rng(0)).dtype == np.float32


@pytest.mark.parametrize("loc, scale, error, pattern", [
    (np.zeros(3), 0.0, ValueError, r"Normal.*scale.*> 0"),
    (np.zeros(3), np.array([1.0, -0.5, 2.0]), ValueError, r"Normal.*scale.*> 0.*from -0.5 to 2"),
    (np.zeros(3), np.nan, ValueError, r"Normal.*scale.*finite"),
    (np.zeros(3), np.inf, ValueError, r"Normal.*scale.*finite"),
    (np.array([0.0, np.nan]), 1.0, ValueError, r"Normal.*loc.*finite.*loc \(2,\) float64"),
    (np.array([0.0, np.inf]), 1.0, ValueError, r"Normal.*loc.*finite"),
    (np.array([1, 2]), 1.0, DTypeError, r"Normal.*loc.*float.*loc \(2,\) int64"),
    (np.zeros((2, 3)), np.ones(2), ShapeError, r"Normal.*broadcast.*loc \(2, 3\) float64, scale \(2,\)"),
    (np.zeros(3), np.ones((2, 3)), ShapeError, r"Normal.*scale \(2, 3\)"),
], ids=["zero scale", "negative scale", "NaN scale", "inf scale", "NaN loc", "inf loc", "integer loc",
        "scale does not broadcast", "scale larger than loc"])
def test_bad_normal_input_raises_naming_the_op_and_shapes(loc, scale, error, pattern):
    with pytest.raises(error, match=pattern):
        Normal(loc, scale)


def test_bad_normal_log_prob_value_and_k_raise():
    dist = Normal(np.zeros((2, 3)), 1.0)
    with pytest.raises(DTypeError, match=r"Normal\.log_prob.*value \(3,\) int64"):
        dist.log_prob(np.array([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"Normal\.log_prob.*loc \(2, 3\).*value \(4,\)"):
        dist.log_prob(np.zeros(4))
    with pytest.raises(ValueError, match=r"Normal\.sample.*k"):
        dist.sample(np.random.default_rng(0), k=0)
    with pytest.raises(TypeError, match=r"Normal\.rsample.*k"):
        dist.rsample(np.random.default_rng(0), k=2.0)
