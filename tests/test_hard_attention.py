"""HardAttention: draws follow the soft weights, masks are obeyed, values learn through the chosen key and the
scores through REINFORCE only; evaluation modes, the soft-expectation switch, seeds, gradients and bad input.

Statistical tests fix their seeds; each states its false-failure rate.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyattn as ta
from tinyattn import ShapeError
from tinyattn.attention import AdditiveScore, GeneralScore, HardAttention, attend
from tinyattn.distributions import Categorical

GRADIENT_EXAMPLES = 40


def problem(seed, batch=2, queries=3, keys=5, size=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, queries, size)).astype(dtype)
    key_states = rng.normal(size=(batch, keys, size)).astype(dtype)
    values = rng.normal(size=(batch, keys, size + 1)).astype(dtype)
    return query, key_states, values


def key_mask(batch, keys, lengths):
    return np.arange(keys)[None, :] < np.asarray(lengths)[:, None]  # (B, Tk), True = a real key


# ----- shapes and what the output holds ------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [None, 3])
@pytest.mark.parametrize("single", [False, True])
def test_output_shapes_follow_query_and_draws(k, single):
    query, keys, values = problem(0)
    if single:
        query = query[:, 0]
    out = HardAttention()(query, keys, values, k=k, rng=1)
    lead = () if k is None else (k,)
    tq = () if single else (3,)
    assert out.context.shape == lead + (2,) + tq + (5,)
    assert out.weights.shape == lead + (2,) + tq + (5,)
    assert out.indices.shape == lead + (2,) + tq
    assert out.log_prob.shape == lead + (2,) + tq
    assert out.probs.shape == (2,) + tq + (5,)
    assert out.sampled


def test_context_is_the_value_at_the_drawn_key_and_weights_are_its_one_hot():
    query, keys, values = problem(1)
    out = HardAttention()(query, keys, values, k=4, rng=2)
    rows = np.arange(2)[None, :, None]
    np.testing.assert_array_equal(out.context.data, values[rows, out.indices])
    assert np.all(out.weights.sum(-1) == 1.0)
    np.testing.assert_array_equal(np.argmax(out.weights, axis=-1), out.indices)


def test_log_prob_is_the_log_of_the_drawn_keys_probability():
    query, keys, values = problem(2)
    out = HardAttention()(query, keys, values, k=2, rng=3)
    probs = out.probs.data
    expected = np.log(np.take_along_axis(probs[None], out.indices[..., None], axis=-1)[..., 0])
    np.testing.assert_allclose(out.log_prob.data, expected, rtol=1e-12)


def test_probs_equal_soft_attention_weights_for_the_same_score():
    query, keys, values = problem(3)
    score = GeneralScore(4, 4, dtype=np.float64, rng=0)
    mask = key_mask(2, 5, [5, 3])
    out = HardAttention(score)(query, keys, values, mask, rng=0)
    _, weights = attend(query, keys, values, score, mask=mask)
    np.testing.assert_allclose(out.probs.data, weights.data, rtol=1e-12, atol=1e-15)


def test_draws_follow_the_soft_weights():
    """Frequencies of 20,000 draws per query against the weights, z-test per (query, key) cell with the binomial
    standard error: fail when any |z| > 5.5 (about 4e-8 per cell two-sided, under 1e-6 for the 30 cells)."""
    query, keys, values = problem(4)
    draws = 20_000
    out = HardAttention("dot")(query, keys, values, k=draws, rng=5)
    counts = (out.indices[..., None] == np.arange(5)).sum(axis=0)  # (B, Tq, Tk)
    probs = out.probs.data
    se = np.sqrt(np.maximum(probs * (1 - probs), 1e-12) / draws)
    z = (counts / draws - probs) / se
    assert np.abs(z).max() < 5.5


# ----- masks ---------------------------------------------------------------------------------------------------------
def test_masked_keys_are_never_drawn_and_padding_cannot_leak():
    query, keys, values = problem(5)
    mask = key_mask(2, 5, [2, 4])
    keys[~mask] = np.nan
    values[~mask] = np.inf
    layer = HardAttention(AdditiveScore(4, 4, 6, dtype=np.float64, rng=0))
    out = layer(query, keys, values, mask, k=5000, rng=6)
    assert mask[np.arange(2)[None, :, None], out.indices].all()
    assert np.isfinite(out.context.data).all()
    loss = (out.context * 1.5).sum() + out.reinforce(np.ones(out.log_prob.shape))
    loss.backward()
    assert all(np.isfinite(parameter.grad).all() for parameter in layer.parameters())


def test_a_three_dimensional_mask_restricts_each_query_separately():
    query, keys, values = problem(6, queries=2)
    mask = np.ones((1, 2, 5), bool)
    mask[0, 0, 1:] = False  # the first query may only look at key 0
    mask[0, 1, 0] = False  # the second never at key 0
    out = HardAttention()(query, keys, values, mask, k=2000, rng=7)
    assert np.all(out.indices[:, :, 0] == 0)
    assert np.all(out.indices[:, :, 1] != 0)


def test_a_float_mask_adds_its_finite_entries_to_the_scores_and_drops_minus_infinity():
    query, keys, values = problem(7)
    bias = np.zeros((2, 1, 5))
    bias[:, :, 1] = 0.7
    bias[:, :, 4] = -np.inf
    out = HardAttention("dot")(query, keys, values, bias, rng=0)
    scores = query @ np.swapaxes(keys, 1, 2) + bias  # (B, Tq, Tk)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(out.probs.data, expected, rtol=1e-12, atol=1e-15)
    assert out.probs.data[..., 4].max() == 0.0


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("evaluation", ["argmax", "soft"])
def test_a_query_with_no_key_to_attend_to_is_an_error_in_every_mode(training, evaluation):
    query, keys, values = problem(8)
    mask = key_mask(2, 5, [3, 0])
    layer = HardAttention(evaluation=evaluation).train(training)
    with pytest.raises(ValueError, match=r"HardAttention: batch row 1 has no key.*mask \(2, 5\) bool"):
        layer(query, keys, values, mask, rng=0)


# ----- where the gradients go ----------------------------------------------------------------------------------------
def test_values_get_the_upstream_gradient_at_the_drawn_keys_only():
    query, keys, values = problem(9)
    values = ta.tensor(values, requires_grad=True)
    out = HardAttention()(query, keys, values, k=3, rng=8)
    upstream = np.random.default_rng(0).normal(size=out.context.shape)
    (out.context * upstream).sum().backward()
    expected = np.einsum("kbqt,kbqd->btd", out.weights, upstream)  # one-hot^T @ upstream, summed over draws
    np.testing.assert_allclose(values.grad, expected, rtol=1e-12, atol=1e-15)


def test_the_context_passes_no_gradient_to_the_scores():
    query, keys, values = problem(10)
    layer = HardAttention(GeneralScore(4, 4, dtype=np.float64, rng=0))
    query, values = ta.tensor(query, requires_grad=True), ta.tensor(values, requires_grad=True)
    out = layer(query, keys, values, rng=0)
    assert out.context.requires_grad  # through the values only
    (out.context * 2.0).sum().backward()
    assert values.grad.any()
    assert query.grad is None or not query.grad.any()
    assert layer.score.weight.grad is None or not layer.score.weight.grad.any()


def test_reinforce_gives_the_scores_minus_reward_times_grad_log_prob():
    query, keys, values = problem(11)
    layer = HardAttention(GeneralScore(4, 4, dtype=np.float64, rng=0))
    reward = np.random.default_rng(1).normal(size=(2, 3))
    out = layer(query, keys, values, rng=2)
    out.reinforce(reward, baseline=0.25, reduction="sum").backward()
    through_layer = layer.score.weight.grad.copy()

    layer.zero_grad()
    again = layer(query, keys, values, rng=2)
    np.testing.assert_array_equal(again.indices, out.indices)
    (-(reward - 0.25) * again.log_prob).sum().backward()
    np.testing.assert_allclose(through_layer, layer.score.weight.grad, rtol=1e-12, atol=1e-15)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(seed=st.integers(0, 2**16), lengths=st.lists(st.integers(1, 4), min_size=2, max_size=2),
       k=st.sampled_from([None, 2]))
def test_log_prob_and_context_gradients_match_finite_differences(seed, lengths, k):
    """Every parameter of the score, the query, keys and values, in float64; the draw is fixed by reseeding, and
    the Gumbel noise of a fixed seed moves no argmax under steps of 1e-6 but with probability ~1e-5."""
    query, keys, values = problem(seed, keys=4)
    mask = key_mask(2, 4, lengths)
    layer = HardAttention(AdditiveScore(4, 4, 3, dtype=np.float64, rng=seed))
    inputs = [ta.tensor(array, requires_grad=True) for array in (query, keys, values)]
    reward = np.random.default_rng(seed + 1).normal(size=(() if k is None else (k,)) + (2, 3))
    context_weights = np.random.default_rng(seed + 2).normal(size=reward.shape + (5,))

    def loss(query, keys, values, *parameters):
        out = layer(query, keys, values, mask, k=k, rng=seed)
        return out.reinforce(reward, reduction="sum") + (out.context * context_weights).sum()

    ta.gradcheck(loss, *inputs, *layer.parameters())


# ----- modes ---------------------------------------------------------------------------------------------------------
def test_evaluation_argmax_picks_the_most_probable_key_and_makes_no_draw():
    query, keys, values = problem(12)
    layer = HardAttention().eval()
    out = layer(query, keys, values, rng=0)
    np.testing.assert_array_equal(out.indices, np.argmax(out.probs.data, axis=-1))
    assert not out.sampled
    assert out.reinforce(np.ones((2, 3))).item() == 0.0


def test_evaluation_soft_and_soft_probability_one_give_softs_attention_context():
    query, keys, values = problem(13)
    score = GeneralScore(4, 4, dtype=np.float64, rng=0)
    mask = key_mask(2, 5, [4, 5])
    expected, weights = attend(query, keys, values, score, mask=mask)
    for layer in (HardAttention(score, evaluation="soft").eval(), HardAttention(score, soft_probability=1.0)):
        out = layer(query, keys, values, mask, rng=0)
        np.testing.assert_allclose(out.context.data, expected.data, rtol=1e-12)
        np.testing.assert_allclose(out.weights, weights.data, rtol=1e-12)
        assert out.indices is None and out.log_prob is None and not out.sampled


def test_soft_probability_uses_the_expectation_about_that_often():
    """400 calls with p = 0.3: the count of soft calls against Binomial(400, 0.3), |z| < 5 (rate ~6e-7)."""
    query, keys, values = problem(14)
    layer = HardAttention(soft_probability=0.3)
    rng = np.random.default_rng(15)
    soft = sum(not layer(query, keys, values, rng=rng).sampled for _ in range(400))
    assert abs(soft - 120) / np.sqrt(400 * 0.3 * 0.7) < 5


def test_a_seed_repeats_the_draws_bit_for_bit_and_another_seed_differs():
    query, keys, values = problem(16)
    layer = HardAttention()
    first, second = (layer(query, keys, values, k=50, rng=np.random.default_rng(3)) for _ in range(2))
    np.testing.assert_array_equal(first.indices, second.indices)
    other = layer(query, keys, values, k=50, rng=np.random.default_rng(4))
    assert not np.array_equal(first.indices, other.indices)
    ta.manual_seed(9)
    seeded = layer(query, keys, values, k=50).indices
    ta.manual_seed(9)
    np.testing.assert_array_equal(seeded, layer(query, keys, values, k=50).indices)


def test_float32_trains_end_to_end():
    query, keys, values = problem(17, dtype=np.float32)
    layer = HardAttention(AdditiveScore(4, 4, 8, dtype=np.float32, rng=0))
    values = ta.tensor(values, requires_grad=True)
    out = layer(query, keys, values, rng=0)
    assert out.context.dtype == np.float32 and out.log_prob.dtype == np.float32
    (out.context.sum() + out.reinforce(np.ones((2, 3), np.float32), entropy_weight=0.01)).backward()
    assert values.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 and np.isfinite(p.grad).all() for p in layer.parameters())


def test_score_parameters_belong_to_the_layer():
    score = AdditiveScore(4, 4, 6, rng=0)
    names = [name for name, _ in HardAttention(score).named_parameters()]
    assert names == ["score." + name for name, _ in score.named_parameters()]


def test_the_distribution_gives_more_draws_and_an_entropy():
    query, keys, values = problem(18)
    out = HardAttention()(query, keys, values, rng=0)
    assert isinstance(out.distribution, Categorical)
    assert out.distribution.sample(np.random.default_rng(0), k=7).shape == (7, 2, 3)
    assert out.distribution.entropy().shape == (2, 3)


# ----- bad input -----------------------------------------------------------------------------------------------------
def test_bad_settings_and_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="evaluation must be one of"):
        HardAttention(evaluation="mean")
    with pytest.raises(ValueError, match="soft_probability must be in"):
        HardAttention(soft_probability=1.5)
    query, keys, values = problem(19)
    with pytest.raises(ShapeError, match=r"HardAttention: .*values \(2, 4, 5\) float64"):
        HardAttention()(query, keys, values[:, :4], rng=0)
    with pytest.raises(ShapeError, match="HardAttention"):
        HardAttention()(query, keys, values, np.ones((2, 4), bool), rng=0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        HardAttention()(query, keys, values, k=0, rng=0)


# ----- the straight-through estimator --------------------------------------------------------------------------------
def test_gumbel_estimator_reads_the_drawn_value_and_passes_the_soft_samples_gradient():
    """Forward: the value at argmax(scores + g). Backward: the gradient of softmax((scores + g) / temperature) @ values,
    with the same noise g (the same seed), and no REINFORCE term."""
    from tinyattn.estimators import gumbel_softmax

    query, keys, values = problem(20)
    mask = key_mask(2, 5, [5, 3])
    upstream = np.random.default_rng(1).normal(size=(4, 2, 3, 5))
    layer = HardAttention(GeneralScore(4, 4, dtype=np.float64, rng=0), estimator="gumbel", temperature=0.7)
    out = layer(query, keys, values, mask, k=4, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(out.context.data, values[np.arange(2)[None, :, None], out.indices])
    assert out.straight_through and out.reinforce(np.ones((4, 2, 3))).item() == 0.0
    assert mask[np.arange(2)[None, :, None], out.indices].all()
    (out.context * upstream).sum().backward()
    through_layer = layer.score.weight.grad.copy()

    layer.zero_grad()
    scores = layer.score(query, keys).broadcast_to((4, 2, 3, 5))
    soft = gumbel_softmax(scores, 0.7, mask=np.broadcast_to(mask[:, None, :], (2, 3, 5)), rng=np.random.default_rng(2))
    np.testing.assert_array_equal(np.argmax(soft.data, axis=-1), out.indices)
    ((soft @ values) * upstream).sum().backward()
    np.testing.assert_allclose(through_layer, layer.score.weight.grad, rtol=1e-10, atol=1e-14)


def test_gumbel_draws_follow_the_soft_weights():
    """As test_draws_follow_the_soft_weights, for Gumbel-max draws: |z| < 5.5 per cell (under 1e-6 for 30 cells)."""
    query, keys, values = problem(21)
    draws = 20_000
    out = HardAttention("dot", estimator="gumbel")(query, keys, values, k=draws, rng=6)
    counts = (out.indices[..., None] == np.arange(5)).sum(axis=0)  # (B, Tq, Tk)
    probs = out.probs.data
    z = (counts / draws - probs) / np.sqrt(np.maximum(probs * (1 - probs), 1e-12) / draws)
    assert np.abs(z).max() < 5.5


def test_bad_estimator_and_temperature_are_errors():
    with pytest.raises(ValueError, match="estimator must be one of"):
        HardAttention(estimator="reparameterise")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        HardAttention(estimator="gumbel", temperature=0.0)
