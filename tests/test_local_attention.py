"""Local attention helpers (Luong et al., 2015): window masks, the Gaussian, the centres of local-m and local-p, and
``local_attend`` against a plain NumPy reference, with gradients (float64, central differences)."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import GeneralScore, PositionPredictor, gaussian, local_attend, window_mask
from tinyattn.attention.local import local_m_centres, source_lengths

EXAMPLES = 30
GRADIENT_EXAMPLES = 25


# ----- the window ------------------------------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None)
@given(length=st.integers(1, 9), window=st.integers(0, 3), data=st.data())
def test_window_holds_exactly_the_positions_within_d_of_the_rounded_centre(length, window, data):
    centres = np.array(data.draw(st.lists(st.floats(0, length - 1), min_size=1, max_size=3), label="centres"))
    mask = window_mask(centres, length, window)
    assert mask.shape == (len(centres), length) and mask.dtype == np.bool_
    for row, centre in enumerate(centres):
        expected = [abs(s - np.rint(centre)) <= window for s in range(length)]  # halves round to even
        assert mask[row].tolist() == expected
        inside = np.flatnonzero(mask[row])
        assert inside.size <= 2 * window + 1 and np.all(np.diff(inside) == 1)  # one block, at most 2D + 1 wide
        if window <= np.rint(centre) <= length - 1 - window:  # away from the edges: exactly 2D + 1
            assert inside.size == 2 * window + 1


def test_window_examples():
    np.testing.assert_array_equal(window_mask(np.array([0, 2.4, 4]), 5, 1), [
        [1, 1, 0, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 0, 1, 1],
    ])
    np.testing.assert_array_equal(window_mask(np.array([2]), 5, 0), [[0, 0, 1, 0, 0]])


def test_local_m_centres_follow_the_step_and_stop_at_the_last_real_position():
    lengths = source_lengths(np.array([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=bool))
    np.testing.assert_array_equal(lengths, [4, 2])
    assert [local_m_centres(t, lengths).tolist() for t in range(5)] == [[0, 0], [1, 1], [2, 1], [3, 1], [3, 1]]


def test_source_lengths_refuses_an_integer_mask_even_of_zeros_and_ones():
    with pytest.raises(DTypeError, match=r"^source_lengths: source_mask must be boolean \(B, S\), True = a real "
                                         r"token; got source_mask \(2, 4\) int64$"):
        source_lengths(np.array([[1, 1, 1, 1], [1, 1, 0, 0]]))
    with pytest.raises(ShapeError, match=r"source_mask must be boolean \(B, S\).*source_mask \(4,\) bool$"):
        source_lengths(np.ones(4, bool))


# ----- the Gaussian ----------------------------------------------------------------------------------------------
@settings(max_examples=EXAMPLES, deadline=None)
@given(length=st.integers(1, 8), sigma=st.floats(0.25, 3.0), data=st.data())
def test_gaussian_is_one_at_the_centre_and_matches_its_formula(length, sigma, data):
    centres = np.array(data.draw(st.lists(st.floats(0, length - 1), min_size=1, max_size=3), label="centres"))
    values = gaussian(ta.tensor(centres), length, sigma).data
    positions = np.arange(length)
    np.testing.assert_allclose(values, np.exp(-(positions - centres[:, None]) ** 2 / (2 * sigma ** 2)), rtol=1e-12)
    at_integer_centre = gaussian(ta.tensor(np.rint(centres)), length, sigma).data
    np.testing.assert_array_equal(at_integer_centre[np.arange(len(centres)), np.rint(centres).astype(int)], 1.0)
    assert np.all(values <= 1.0) and np.all(values > 0)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(length=st.integers(1, 6), sigma=st.floats(0.5, 2.0), data=st.data())
def test_gaussian_gradient_wrt_the_centre_matches_central_differences(length, sigma, data):
    centres = data.draw(S.arrays((data.draw(st.integers(1, 3), label="B"),), 0.0, length - 1.0), label="centres")
    centres = ta.tensor(centres, requires_grad=True)
    upstream = data.draw(S.upstream_gradients((centres.shape[0], length)), label="upstream")
    assert ta.gradcheck(lambda c: gaussian(c, length, sigma), centres, grad_output=upstream)


def test_gaussian_keeps_float32_and_rejects_bad_input():
    assert gaussian(ta.tensor(np.array([1.0], np.float32)), 3, 1.0).dtype == np.float32
    with pytest.raises(ValueError, match=r"^gaussian: sigma must be positive; got sigma=0.0$"):
        gaussian(ta.tensor(np.array([1.0])), 3, 0.0)
    with pytest.raises(DTypeError, match=r"^gaussian: centres must be floats; got centres \(1,\) int64$"):
        gaussian(np.array([1]), 3, 1.0)
    with pytest.raises(ShapeError, match=r"^window_mask: centres must be \(B,\); got centres \(2, 2\) float64$"):
        window_mask(np.zeros((2, 2)), 3, 1)
    with pytest.raises(ValueError, match=r"^window_mask: window must be an integer >= 0; got window=-1$"):
        window_mask(np.zeros(2), 3, -1)


# ----- the predicted centre (local-p) --------------------------------------------------------------------------
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(data=st.data())
def test_predicted_centres_lie_on_real_positions_and_have_checked_gradients(data):
    batch = data.draw(st.integers(1, 3), label="B")
    predictor = PositionPredictor(3, 2, dtype=np.float64, rng=data.draw(st.integers(0, 99), label="seed"))
    query = ta.tensor(data.draw(S.arrays((batch, 3), -2.0, 2.0), label="query"), requires_grad=True)
    lengths = np.array(data.draw(st.lists(st.integers(1, 6), min_size=batch, max_size=batch), label="lengths"))
    centres = predictor(query, lengths)
    assert centres.shape == (batch,)
    assert np.all(centres.data >= 0) and np.all(centres.data <= lengths - 1)
    upstream = data.draw(S.upstream_gradients((batch,)), label="upstream")
    assert ta.gradcheck(lambda *_: predictor(query, lengths), query, *predictor.parameters(), grad_output=upstream)


# ----- local_attend ----------------------------------------------------------------------------------------------
def reference(query, keys, values, weight, mask, centres, window, use_gaussian):
    """local attention in NumPy, one row at a time: softmax of q^T W k over the window's real keys (times the
    Gaussian for local-p), then the weighted sum of values."""
    batch, length = mask.shape
    weights = np.zeros((batch, length))
    for row in range(batch):
        inside = mask[row] & (np.abs(np.arange(length) - np.rint(centres[row])) <= window)
        scores = keys[row] @ (query[row] @ weight)
        exps = np.where(inside, np.exp(scores - scores[inside].max()), 0.0)
        weights[row] = exps / exps.sum()
        if use_gaussian:
            sigma = max(window, 1) / 2
            weights[row] *= np.exp(-(np.arange(length) - centres[row]) ** 2 / (2 * sigma ** 2))
    return np.einsum("bs,bsd->bd", weights, values), weights


@st.composite
def local_inputs(draw):
    batch, length = draw(st.integers(1, 3), label="B"), draw(st.integers(1, 5), label="S")
    lengths = np.array(draw(st.lists(st.integers(1, length), min_size=batch, max_size=batch), label="lengths"))
    mask = np.arange(length)[None, :] < lengths[:, None]
    query = draw(S.arrays((batch, 2), -2.0, 2.0), label="query")
    keys = draw(S.arrays((batch, length, 3), -2.0, 2.0), label="keys")
    values = draw(S.arrays((batch, length, 2), -2.0, 2.0), label="values")
    # Centres on real positions, kept 0.01 away from the rounding boundaries (half-integers).
    offsets = draw(S.arrays((batch,), -0.49, 0.49), label="offsets")
    whole = np.array([draw(st.integers(0, n - 1)) for n in lengths])
    centres = np.clip(whole + offsets, 0, lengths - 1)
    return query, keys, values, mask, centres


@settings(max_examples=EXAMPLES, deadline=None)
@given(inputs=local_inputs(), window=st.integers(0, 2), kind=st.sampled_from(["local-m", "local-p"]),
       seed=st.integers(0, 99))
def test_local_attend_matches_a_numpy_reference_and_masks_outside_the_window(inputs, window, kind, seed):
    query, keys, values, mask, centres = inputs
    score = GeneralScore(2, 3, dtype=np.float64, rng=seed)
    use_gaussian = kind == "local-p"
    if not use_gaussian:
        centres = np.rint(centres).astype(np.int64)
    context, weights = local_attend(query, keys, values, score, mask, ta.tensor(centres) if use_gaussian else centres,
                                    window, use_gaussian)
    expected_context, expected_weights = reference(query, keys, values, score.weight.data, mask, centres, window,
                                                   use_gaussian)
    np.testing.assert_allclose(weights.data, expected_weights, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(context.data, expected_context, rtol=1e-10, atol=1e-12)
    outside = ~(mask & window_mask(centres, mask.shape[1], window))
    assert np.all(weights.data[outside] == 0.0)
    sums = weights.data.sum(axis=1)
    if use_gaussian:  # the Gaussian shrinks every weight but the centre's: rows sum to less than one
        assert np.all(sums <= 1 + 1e-12)
        several = (mask & window_mask(centres, mask.shape[1], window)).sum(axis=1) > 1
        assert np.all(sums[several] < 1)
    else:
        np.testing.assert_allclose(sums, 1.0, atol=1e-12)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(inputs=local_inputs(), window=st.integers(0, 2), seed=st.integers(0, 99), data=st.data())
def test_local_p_gradients_wrt_query_keys_values_and_centre_match_central_differences(inputs, window, seed, data):
    query, keys, values, mask, centres = inputs
    score = GeneralScore(2, 3, dtype=np.float64, rng=seed)
    tensors = [ta.tensor(array, requires_grad=True) for array in (query, keys, values, centres)]

    def forward(query, keys, values, centres, *_):  # the score's weight, also perturbed, is read by the score
        context, weights = local_attend(query, keys, values, score, mask, centres, window, use_gaussian=True)
        return ta.functional.concatenate([context.reshape(-1), weights.reshape(-1)])

    upstream = data.draw(S.upstream_gradients(forward(*tensors).shape), label="upstream")
    assert ta.gradcheck(forward, *tensors, score.weight, grad_output=upstream)


def _local_outputs_and_gradients(score, query, keys, values, mask, centres, window, use_gaussian, upstreams):
    """local_attend's context and weights, and the gradients of their projection on `upstreams` with respect to the
    query, keys, values, centres (local-p) and the score's weight."""
    score.zero_grad()
    leaves = [ta.tensor(array, requires_grad=True) for array in (query, keys, values, centres)]
    centres_in = leaves[3] if use_gaussian else np.rint(centres).astype(np.int64)
    outputs = local_attend(*leaves[:3], score, mask, centres_in, window, use_gaussian)
    S.projected(outputs, upstreams).backward()
    tensors = leaves[:3] + (leaves[3:] if use_gaussian else []) + [score.weight]
    return [output.data for output in outputs], [tensor.grad for tensor in tensors]


@pytest.mark.parametrize("use_gaussian", [False, True], ids=["local-m", "local-p"])
def test_nan_and_inf_in_padded_keys_and_values_change_no_output_and_no_gradient(use_gaussian):
    rng = np.random.default_rng(10)
    mask = np.array([[True, True, True, False, False], [True, True, True, True, True], [True, False, False, False,
                                                                                        False]])
    centres = np.array([2.2, 1.0, 0.0])  # row 0's window (D = 1) reaches padding; row 2 has one real key
    query = rng.standard_normal((3, 2))
    clean_keys = np.where(mask[..., None], rng.standard_normal((3, 5, 3)), 0.0)
    clean_values = np.where(mask[..., None], rng.standard_normal((3, 5, 2)), 0.0)
    garbage = np.array([np.nan, np.inf, -np.inf, 1e300])
    dirty_keys, dirty_values = clean_keys.copy(), clean_values.copy()
    dirty_keys[~mask] = np.resize(garbage, dirty_keys[~mask].shape)
    dirty_values[~mask] = np.resize(garbage[::-1], dirty_values[~mask].shape)
    upstreams = [rng.standard_normal((3, 2)), rng.standard_normal((3, 5))]
    score = GeneralScore(2, 3, dtype=np.float64, rng=0)
    clean = _local_outputs_and_gradients(score, query, clean_keys, clean_values, mask, centres, 1, use_gaussian,
                                         upstreams)
    dirty = _local_outputs_and_gradients(score, query, dirty_keys, dirty_values, mask, centres, 1, use_gaussian,
                                         upstreams)
    for got, expected in zip(dirty[0] + dirty[1], clean[0] + clean[1], strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("mask, error, got", [
    (np.array([[1, 1, 0], [1, 1, 1]]), DTypeError, "mask (2, 3) int64"),  # 0/1 integers are not a keep mask
    (np.ones((2, 4), bool), ShapeError, "mask (2, 4) bool"),
])
def test_local_attend_refuses_a_mask_that_is_not_a_boolean_key_mask_naming_shapes_and_dtypes(mask, error, got):
    query, keys, values = np.ones((2, 3)), np.ones((2, 3, 3)), np.ones((2, 3, 2))
    score = GeneralScore(3, 3, dtype=np.float64, rng=0)
    with pytest.raises(error, match=rf"^local_attend: mask must .*\(B, S\).*; got keys \(2, 3, 3\) float64, "
                                    rf"{re.escape(got)}$"):
        local_attend(query, keys, values, score, mask, np.array([1, 1]), 1, use_gaussian=False)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)])
@pytest.mark.parametrize("name", ["query_size", "hidden_size"])
def test_position_predictor_refuses_sizes_that_are_not_positive_integers_naming_the_argument(name, value, error):
    with pytest.raises(error) as caught:
        PositionPredictor(**{"query_size": 3, "hidden_size": 2, name: value})
    assert type(caught.value) is error  # hidden_size=0 used to raise ZeroDivisionError (1 / sqrt(0))
    assert str(caught.value).startswith(f"PositionPredictor: {name} must be an integer")
    assert f"got {name}={value!r}" in str(caught.value)
