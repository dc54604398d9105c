"""tinyattn.attention.rollout: attention rollout (Abnar & Zuidema, 2020) against products computed by hand, and its
invariants (rows sum to one, identity in gives identity out) and input checks."""
import numpy as np
import pytest

import tinyattn as ta
from tinyattn.attention.rollout import attention_rollout

# Two layers of two heads over T = 2 positions, with dyadic numbers so every step is exact in floating point.
LAYER_1 = np.array([[[1.0, 0.0], [0.5, 0.5]],
                    [[0.0, 1.0], [0.5, 0.5]]])  # (H, T, T); head mean [[0.5, 0.5], [0.5, 0.5]]
LAYER_2 = np.array([[[1.0, 0.0], [1.0, 0.0]],
                    [[1.0, 0.0], [0.0, 1.0]]])  # head mean [[1, 0], [0.5, 0.5]]


def random_weights(rng, shape):
    """Softmax-like weights: rows on the simplex, away from zero."""
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


def test_two_layers_by_hand_multiply_with_the_last_layer_on_the_left():
    # A'_1 = 0.5 mean(LAYER_1) + 0.5 I = [[0.75, 0.25], [0.25, 0.75]]
    # A'_2 = 0.5 mean(LAYER_2) + 0.5 I = [[1, 0], [0.25, 0.75]]
    # R = A'_2 A'_1: row 0 = A'_1[0]; row 1 = 0.25 A'_1[0] + 0.75 A'_1[1] = [0.375, 0.625]
    expected = np.array([[0.75, 0.25], [0.375, 0.625]])
    np.testing.assert_array_equal(attention_rollout([LAYER_1, LAYER_2]), expected)
    np.testing.assert_array_equal(attention_rollout(np.stack([LAYER_1, LAYER_2])), expected)
    # the other order, A'_1 A'_2, would give [[0.8125, 0.1875], ...]
    assert not np.allclose(attention_rollout([LAYER_2, LAYER_1]), expected)


def test_two_layers_by_hand_without_the_residual():
    # R = mean(LAYER_2) mean(LAYER_1) = [[1, 0], [0.5, 0.5]] [[0.5, 0.5], [0.5, 0.5]]
    np.testing.assert_array_equal(attention_rollout([LAYER_1, LAYER_2], residual=False),
                                  [[0.5, 0.5], [0.5, 0.5]])


def test_max_and_min_head_reductions_renormalise_the_rows_by_hand():
    # max: [[1, 1], [0.5, 0.5]] + I = [[2, 1], [0.5, 1.5]], rows / [3, 2]
    np.testing.assert_allclose(attention_rollout([LAYER_1], head_reduction="max"), [[2 / 3, 1 / 3], [0.25, 0.75]])
    # min: [[0, 0], [0.5, 0.5]] + I = [[1, 0], [0.5, 1.5]], rows / [1, 2]
    np.testing.assert_array_equal(attention_rollout([LAYER_1], head_reduction="min"), [[1.0, 0.0], [0.25, 0.75]])


def test_one_layer_with_the_residual_is_half_the_head_mean_plus_half_the_identity():
    weights = random_weights(np.random.default_rng(0), (3, 4, 5, 5))  # (B, H, T, T)
    expected = 0.5 * weights.mean(axis=1) + 0.5 * np.eye(5)
    np.testing.assert_allclose(attention_rollout([weights]), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("head_reduction", ["mean", "max", "min"])
def test_rows_of_the_rollout_sum_to_one(residual, head_reduction):
    weights = random_weights(np.random.default_rng(1), (3, 2, 4, 6, 6))  # (L, B, H, T, T)
    rollout = attention_rollout(weights, residual=residual, head_reduction=head_reduction)
    assert rollout.shape == (2, 6, 6) and isinstance(rollout, np.ndarray)
    assert (rollout >= 0).all()
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, rtol=1e-12)


def test_list_and_array_batched_and_unbatched_inputs_agree():
    weights = random_weights(np.random.default_rng(2), (3, 2, 2, 4, 4))  # (L, B, H, T, T)
    batched = attention_rollout(weights)
    np.testing.assert_array_equal(attention_rollout(list(weights)), batched)
    np.testing.assert_allclose(attention_rollout(weights[:, 1]), batched[1], rtol=1e-12)  # (L, H, T, T) -> (T, T)
    np.testing.assert_allclose(attention_rollout([layer[0] for layer in weights]), batched[0], rtol=1e-12)


@pytest.mark.parametrize("residual", [True, False])
def test_identity_weights_give_the_identity(residual):
    weights = np.broadcast_to(np.eye(4), (3, 2, 4, 4))  # (L, H, T, T)
    np.testing.assert_array_equal(attention_rollout(weights, residual=residual), np.eye(4))


def test_tensors_are_read_through_their_data_and_float32_stays_float32():
    layers = [ta.tensor(LAYER_1.astype(np.float32)), ta.tensor(LAYER_2.astype(np.float32))]
    rollout = attention_rollout(layers)
    assert isinstance(rollout, np.ndarray) and rollout.dtype == np.float32
    np.testing.assert_allclose(rollout, [[0.75, 0.25], [0.375, 0.625]])
    assert attention_rollout([LAYER_1.astype(int)]).dtype == np.float64


def test_a_fully_masked_row_stays_zero_without_the_residual_and_keeps_itself_with_it():
    weights = np.array([[[0.5, 0.5], [0.0, 0.0]]])  # (H, T, T): query 1 attends nowhere
    np.testing.assert_array_equal(attention_rollout([weights], residual=False), [[0.5, 0.5], [0.0, 0.0]])
    np.testing.assert_array_equal(attention_rollout([weights]), [[0.75, 0.25], [0.0, 1.0]])


@pytest.mark.parametrize("weights, error, words", [
    ([np.full((2, 3, 3), 1 / 3), np.full((2, 2, 2), 0.5)], ta.ShapeError, ["layer 1", "(2, 2, 2)", "(2, 3, 3)"]),
    ([np.full((2, 3, 3), 1 / 3), np.full((1, 2, 3, 3), 1 / 3)], ta.ShapeError, ["layer 1", "(1, 2, 3, 3)"]),
    ([np.full((3, 3), 1 / 3)], ta.ShapeError, ["layer 0", "(3, 3)"]),
    (np.full((2, 2, 3, 4), 0.25), ta.ShapeError, ["square", "(2, 2, 3, 4)"]),
    (np.full((2, 3, 3), 1 / 3), ta.ShapeError, ["(L, B, H, T, T)", "(2, 3, 3)"]),
    ([], ta.ShapeError, ["no layers"]),
    (np.zeros((2, 0, 3, 3)), ta.ShapeError, ["empty", "(2, 0, 3, 3)"]),
    ([[[[0.5, np.nan], [0.5, 0.5]]]], ValueError, ["finite", "nan", "(0, 0, 0, 1)", "(1, 1, 2, 2)"]),
    ([[[[1.5, -0.5], [0.5, 0.5]]]], ValueError, ["non-negative", "-0.5", "(1, 1, 2, 2)"]),
    ([[[["a"]]]], ta.DTypeError, ["numbers", "<U1"]),
    ([[[[1.0, 0.0], [1.0]]]], ta.ShapeError, ["layer 0", "ragged"]),
])
def test_bad_weights_raise_errors_naming_the_function_and_shapes(weights, error, words):
    with pytest.raises(error) as caught:
        attention_rollout(weights)
    message = str(caught.value)
    assert message.startswith("attention_rollout: ") and all(word in message for word in words), message


def test_unknown_head_reduction_is_refused():
    with pytest.raises(ValueError, match=r"attention_rollout: head_reduction must be one of \['max', 'mean', 'min'\]"):
        attention_rollout([LAYER_1], head_reduction="sum")
