"""DecomposableAttention (Parikh et al., 2016): forward, gradients, padding, dropout, training, errors.

The forward pass is compared with the paper's attend / compare / aggregate steps written out in NumPy below, the
networks F, G and H applied by hand from the module's own parameters, one example and one word at a time. Every
gradient (both inputs and all fourteen parameters) is checked against central differences in float64 on tiny shapes
drawn by Hypothesis, with masks on both sides that include fully padded rows; outputs are projected on random
upstream gradients, never summed. The ReLUs are kinks: the gradient test builds parameters whose biases dominate
every pre-activation, so that none comes near 0 (see `margin_cases`). A short Adam run on a synthetic pair task shows
that the model learns.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from two_inputs import masked_softmax, real_positions, side_masks, zero_padding

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import DecomposableAttention, DecomposableOutput
from tinyattn.optim import Adam

GRADIENT_EXAMPLES = 50
PROPERTY_EXAMPLES = 30
NETWORKS = ("attend_network", "compare_network", "aggregate_network")  # F, G, H


# ----- NumPy reference ----------------------------------------------------------------------------------------------
def feed_forward(network, x, pre_activations):
    """relu(relu(x W1 + b1) W2 + b2) for one vector x, from the network's parameters; records both pre-activations."""
    first = x @ network.first.weight.data + network.first.bias.data
    second = np.maximum(first, 0.0) @ network.second.weight.data + network.second.bias.data
    pre_activations.extend([first, second])
    return np.maximum(second, 0.0)


def decomposable_reference(module, premise, hypothesis, premise_mask, hypothesis_mask):
    """Parikh et al. (2016), section 3, one example at a time:

        attend     e_ij = F(a_i)^T F(b_j),  beta_i = sum_j softmax_j(e_ij) b_j,  alpha_j = sum_i softmax_i(e_ij) a_i
        compare    v1_i = G([a_i; beta_i]),  v2_j = G([b_j; alpha_j])
        aggregate  v1 = sum_i v1_i,  v2 = sum_j v2_j,  logits = H([v1; v2]) W + b

    over the real words (a padded word is zero, aligns with nothing and is left out of the sums). Returns the module's
    four outputs and every ReLU pre-activation computed on the way (padded words' included).
    """
    attend, compare, aggregate = (getattr(module, name) for name in NETWORKS)
    premise_real, hypothesis_real = real_positions(premise, premise_mask), real_positions(hypothesis, hypothesis_mask)
    premise, hypothesis = zero_padding(premise, premise_mask), zero_padding(hypothesis, hypothesis_mask)
    batch, premise_length, hypothesis_length = premise.shape[0], premise.shape[1], hypothesis.shape[1]
    logits = np.zeros((batch, module.num_classes))
    scores = np.zeros((batch, premise_length, hypothesis_length))
    premise_weights = np.zeros((batch, premise_length, hypothesis_length))
    hypothesis_weights = np.zeros((batch, hypothesis_length, premise_length))
    pre_activations = []
    for b in range(batch):
        a, h = premise[b], hypothesis[b]
        attended_a = [feed_forward(attend, a[i], pre_activations) for i in range(premise_length)]
        attended_h = [feed_forward(attend, h[j], pre_activations) for j in range(hypothesis_length)]
        for i in range(premise_length):
            for j in range(hypothesis_length):
                scores[b, i, j] = attended_a[i] @ attended_h[j]
        summary_a = np.zeros(module.hidden_size)
        for i in range(premise_length):
            if premise_real[b, i]:
                premise_weights[b, i] = masked_softmax(scores[b, i, :], hypothesis_real[b])
            beta = premise_weights[b, i] @ h
            compared = feed_forward(compare, np.concatenate([a[i], beta]), pre_activations)
            if premise_real[b, i]:
                summary_a += compared
        summary_h = np.zeros(module.hidden_size)
        for j in range(hypothesis_length):
            if hypothesis_real[b, j]:
                hypothesis_weights[b, j] = masked_softmax(scores[b, :, j], premise_real[b])
            alpha = hypothesis_weights[b, j] @ a
            compared = feed_forward(compare, np.concatenate([h[j], alpha]), pre_activations)
            if hypothesis_real[b, j]:
                summary_h += compared
        aggregated = feed_forward(aggregate, np.concatenate([summary_a, summary_h]), pre_activations)
        logits[b] = aggregated @ module.classifier.weight.data + module.classifier.bias.data
    return (logits, premise_weights, hypothesis_weights, scores), np.concatenate(pre_activations)


# ----- strategies ---------------------------------------------------------------------------------------------------
@st.composite
def sentence_pairs(draw, max_batch=3, max_words=4, max_size=4, low=-2.0, high=2.0, allow_none=True):
    """(premise (B, la, D), hypothesis (B, lb, D), masks or None), float64, masks on both sides sometimes with a fully
    padded row (on either side, or both)."""
    batch = draw(st.integers(1, max_batch), label="B")
    premise_length, hypothesis_length = (draw(st.integers(1, max_words), label="la"),
                                         draw(st.integers(1, max_words), label="lb"))
    size = draw(st.integers(1, max_size), label="D")
    premise = draw(S.arrays((batch, premise_length, size), low, high), label="premise")
    hypothesis = draw(S.arrays((batch, hypothesis_length, size), low, high), label="hypothesis")
    return (premise, hypothesis, draw(side_masks((batch, premise_length), allow_none), label="premise mask"),
            draw(side_masks((batch, hypothesis_length), allow_none), label="hypothesis mask"))


@st.composite
def margin_cases(draw):
    """A float64 module and a sentence pair whose every ReLU pre-activation is at least 0.2 away from the kink at 0.

    Finite differences across a ReLU's kink are wrong by design, and whether a pre-activation is near 0 depends on the
    masks (through beta, alpha and the sums), so instead of filtering, the biases dominate by construction: every bias
    has magnitude in [1, 2] (its sign drawn, so about half the units are alive and every path gets checked across
    examples), weights are small, words lie in [-1, 1] with D <= 3 and la, lb <= 3, H <= 3:
      F:  |x W1| <= 3 * 1 * 0.1 = 0.3, hidden <= 2.3;  |h W2| <= 3 * 2.3 * 0.1 = 0.69            margins >= 0.31
      G:  |[a; beta] W1| <= 6 * 1 * 0.1 = 0.6, hidden <= 2.6;  |h W2| <= 0.78, output <= 2.78   margins >= 0.22
      H:  [v1; v2] are sums of <= 3 outputs of G, <= 8.34 each: |x W1| <= 6 * 8.34 * 0.01 = 0.5 (W1 in [-0.01,
          0.01]); hidden <= 2.5, |h W2| <= 0.75                                                    margins >= 0.25
    The test asserts the margin on the reference's pre-activations too. The classifier has no ReLU: any weights.
    """
    batch = draw(st.integers(1, 2), label="B")
    premise_length, hypothesis_length = draw(st.integers(1, 3), label="la"), draw(st.integers(1, 3), label="lb")
    size, hidden, classes = (draw(st.integers(1, 3), label="D"), draw(st.integers(1, 2), label="H"),
                             draw(st.integers(1, 3), label="C"))
    module = DecomposableAttention(size, hidden, classes, dtype=np.float64, rng=0)
    for name, first_bound in zip(NETWORKS, (0.1, 0.1, 0.01), strict=True):
        network = getattr(module, name)
        network.first.weight.data[:] = draw(S.arrays(network.first.weight.shape, -first_bound, first_bound))
        network.second.weight.data[:] = draw(S.arrays(network.second.weight.shape, -0.1, 0.1))
        for layer in (network.first, network.second):
            layer.bias.data[:] = draw(S.signed_magnitudes(layer.bias.shape, margin=1.0, high=2.0), label="bias")
    module.classifier.weight.data[:] = draw(S.arrays(module.classifier.weight.shape, -1.0, 1.0))
    module.classifier.bias.data[:] = draw(S.arrays(module.classifier.bias.shape, -1.0, 1.0))
    premise = draw(S.arrays((batch, premise_length, size), -1.0, 1.0), label="premise")
    hypothesis = draw(S.arrays((batch, hypothesis_length, size), -1.0, 1.0), label="hypothesis")
    premise_mask = draw(side_masks((batch, premise_length), allow_none=False), label="premise mask")
    hypothesis_mask = draw(side_masks((batch, hypothesis_length), allow_none=False), label="hypothesis mask")
    return module, premise, hypothesis, premise_mask, hypothesis_mask


def outputs_and_gradients(module, premise, hypothesis, premise_mask, hypothesis_mask, upstreams):
    """The module's outputs and the gradients of their projection on `upstreams` (both inputs, every parameter)."""
    module.zero_grad()
    premise, hypothesis = ta.tensor(premise, requires_grad=True), ta.tensor(hypothesis, requires_grad=True)
    outputs = module(premise, hypothesis, premise_mask, hypothesis_mask)
    S.projected(outputs, upstreams).backward()
    return [output.data for output in outputs], [premise.grad, hypothesis.grad], [p.grad for p in module.parameters()]


# ----- forward and gradients ----------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=sentence_pairs(), hidden=st.integers(1, 3), classes=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_decomposable_attention_matches_the_papers_attend_compare_aggregate(case, hidden, classes, seed):
    premise, hypothesis, premise_mask, hypothesis_mask = case
    module = DecomposableAttention(premise.shape[2], hidden, classes, dtype=np.float64, rng=seed)
    output = module(premise, hypothesis, premise_mask, hypothesis_mask)
    assert isinstance(output, DecomposableOutput)
    batch, premise_length, hypothesis_length = premise.shape[0], premise.shape[1], hypothesis.shape[1]
    shapes = [(batch, classes), (batch, premise_length, hypothesis_length),
              (batch, hypothesis_length, premise_length), (batch, premise_length, hypothesis_length)]
    expected, _ = decomposable_reference(module, premise, hypothesis, premise_mask, hypothesis_mask)
    for got, want, shape in zip(output, expected, shapes, strict=True):
        assert got.shape == shape and got.dtype == np.float64
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(case=margin_cases(), data=st.data())
def test_decomposable_gradients_wrt_both_inputs_and_every_parameter(case, data):
    module, premise, hypothesis, premise_mask, hypothesis_mask = case
    parameters = list(module.parameters())
    assert len(parameters) == 14  # W1, b1, W2, b2 of F, G and H, and the classifier's W, b: none skipped
    _, pre_activations = decomposable_reference(module, premise, hypothesis, premise_mask, hypothesis_mask)
    assert np.abs(pre_activations).min() > 0.2  # the construction holds: no ReLU near its kink
    premise, hypothesis = ta.tensor(premise, requires_grad=True), ta.tensor(hypothesis, requires_grad=True)

    def outputs():
        return module(premise, hypothesis, premise_mask, hypothesis_mask)

    upstreams = [data.draw(S.upstream_gradients(part.shape), label="upstream") for part in outputs()]
    ta.gradcheck(lambda *_: S.projected(outputs(), upstreams), premise, hypothesis, *parameters)


# ----- weights and padding ------------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=sentence_pairs(), seed=st.integers(0, 2**16))
def test_alignment_weights_sum_to_one_over_real_words_and_padding_gets_zero(case, seed):
    premise, hypothesis, premise_mask, hypothesis_mask = case
    module = DecomposableAttention(premise.shape[2], 3, 2, dtype=np.float64, rng=seed)
    output = module(premise, hypothesis, premise_mask, hypothesis_mask)
    premise_real, hypothesis_real = real_positions(premise, premise_mask), real_positions(hypothesis, hypothesis_mask)
    for weights, rows, columns in [(output.premise_weights, premise_real, hypothesis_real),
                                   (output.hypothesis_weights, hypothesis_real, premise_real)]:
        assert np.all(weights.data[np.broadcast_to(~columns[:, None, :], weights.shape)] == 0.0)  # nothing aligns there
        assert np.all(weights.data[~rows] == 0.0)  # a padded word aligns with nothing
        looks = rows & columns.any(axis=1, keepdims=True)
        np.testing.assert_allclose(weights.data[looks].sum(axis=-1), 1.0, rtol=1e-12)
        assert np.all(weights.data[~looks] == 0.0)


def test_a_sentence_with_no_real_word_aggregates_to_zero_and_the_other_aligns_with_nothing():
    """Documented: v = 0 for the empty sentence, beta = 0 (or alpha = 0) for the other's words; finite gradients, zero
    for the empty sentence."""
    rng = np.random.default_rng(31)
    module = DecomposableAttention(3, 4, 2, dtype=np.float64, rng=1)
    premise = ta.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    hypothesis = ta.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    premise_mask = np.array([[False] * 3, [True, False, True]])  # row 0: empty premise
    hypothesis_mask = np.array([[True, True], [False, False]])  # row 1: empty hypothesis
    output = module(premise, hypothesis, premise_mask, hypothesis_mask)
    assert np.all(output.premise_weights.data == 0.0) and np.all(output.hypothesis_weights.data == 0.0)
    compare, aggregate = module.compare_network, module.aggregate_network
    with ta.no_grad():
        for b, words, mask, empty_first in [(0, hypothesis.data[0], hypothesis_mask[0], True),
                                            (1, premise.data[1], premise_mask[1], False)]:
            aligned = np.concatenate([words[mask], np.zeros_like(words[mask])], axis=1)  # [word; 0]: aligned to nothing
            summary = compare(ta.tensor(aligned)).data.sum(axis=0)
            both = [np.zeros_like(summary), summary] if empty_first else [summary, np.zeros_like(summary)]
            expected = module.classifier(aggregate(ta.tensor(np.concatenate(both)))).data
            np.testing.assert_allclose(output.logits.data[b], expected, rtol=1e-12)
    S.projected(output, [rng.standard_normal(part.shape) for part in output]).backward()
    assert np.all(np.isfinite(premise.grad)) and np.all(np.isfinite(hypothesis.grad))
    assert all(np.all(np.isfinite(parameter.grad)) for parameter in module.parameters())
    assert np.all(premise.grad[0] == 0.0) and np.all(hypothesis.grad[1] == 0.0)
    assert np.any(premise.grad[1] != 0.0) and np.any(hypothesis.grad[0] != 0.0)


GARBAGE = [np.nan, np.inf, -np.inf, 1e4]
PREMISE_MASK = np.array([[True, False, True, False], [False] * 4, [True, True, True, True]])  # row 1: empty
HYPOTHESIS_MASK = np.array([[False, True, True], [True, False, True], [False] * 3])  # row 2: empty


@pytest.mark.parametrize("garbage", GARBAGE, ids=["nan", "inf", "-inf", "1e4"])
def test_garbage_in_padded_words_changes_no_output_and_no_gradient(garbage):
    """Outputs, parameter gradients and the real words' gradients as with padding of ones; zero gradient to padding."""
    rng = np.random.default_rng(32)
    module = DecomposableAttention(3, 4, 2, dtype=np.float64, rng=2)
    clean1 = np.where(PREMISE_MASK[..., None], rng.standard_normal((3, 4, 3)), 1.0)
    clean2 = np.where(HYPOTHESIS_MASK[..., None], rng.standard_normal((3, 3, 3)), 1.0)
    dirty1, dirty2 = clean1.copy(), clean2.copy()
    dirty1[~PREMISE_MASK], dirty2[~HYPOTHESIS_MASK] = garbage, garbage
    upstreams = [rng.standard_normal(part.shape) for part in module(clean1, clean2, PREMISE_MASK, HYPOTHESIS_MASK)]
    outputs, input_grads, parameter_grads = outputs_and_gradients(module, clean1, clean2, PREMISE_MASK,
                                                                  HYPOTHESIS_MASK, upstreams)
    dirty_outputs, dirty_input_grads, dirty_parameter_grads = outputs_and_gradients(
        module, dirty1, dirty2, PREMISE_MASK, HYPOTHESIS_MASK, upstreams)
    for got, expected in zip(dirty_outputs + dirty_parameter_grads, outputs + parameter_grads, strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    for got, expected, mask in zip(dirty_input_grads, input_grads, [PREMISE_MASK, HYPOTHESIS_MASK], strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got[mask], expected[mask])
        assert np.all(got[~mask] == 0.0) and np.any(got[mask] != 0.0)


def test_padding_stored_as_zeros_gets_zero_gradient():
    """The model does not depend on a padded word, so a padded word holding zeros gets a zero gradient, as one holding
    anything else does (a central difference there is 0: gradcheck)."""
    rng = np.random.default_rng(33)
    module = DecomposableAttention(3, 4, 2, dtype=np.float64, rng=3)
    premise = ta.tensor(np.where(PREMISE_MASK[..., None], rng.standard_normal((3, 4, 3)), 0.0), requires_grad=True)
    hypothesis = ta.tensor(np.where(HYPOTHESIS_MASK[..., None], rng.standard_normal((3, 3, 3)), 0.0),
                           requires_grad=True)
    upstreams = [rng.standard_normal(part.shape) for part in module(premise, hypothesis, PREMISE_MASK,
                                                                     HYPOTHESIS_MASK)]
    ta.gradcheck(lambda *_: S.projected(module(premise, hypothesis, PREMISE_MASK, HYPOTHESIS_MASK), upstreams),
                 premise, hypothesis)
    S.projected(module(premise, hypothesis, PREMISE_MASK, HYPOTHESIS_MASK), upstreams).backward()
    assert np.all(premise.grad[~PREMISE_MASK] == 0.0) and np.all(hypothesis.grad[~HYPOTHESIS_MASK] == 0.0)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=sentence_pairs(allow_none=False), extra1=st.integers(0, 2), extra2=st.integers(1, 2),
       seed=st.integers(0, 2**16))
def test_appending_padded_words_changes_nothing(case, extra1, extra2, seed):
    """Padded words are left out of the sums, not merely zeroed: G([0; 0]) is not 0, so this fails if they count."""
    premise, hypothesis, premise_mask, hypothesis_mask = case
    module = DecomposableAttention(premise.shape[2], 3, 2, dtype=np.float64, rng=seed)
    output = module(premise, hypothesis, premise_mask, hypothesis_mask)
    (batch, premise_length, size), hypothesis_length = premise.shape, hypothesis.shape[1]
    longer = module(np.concatenate([premise, np.full((batch, extra1, size), 3.0)], axis=1),
                    np.concatenate([hypothesis, np.full((batch, extra2, size), -3.0)], axis=1),
                    np.concatenate([premise_mask, np.zeros((batch, extra1), bool)], axis=1),
                    np.concatenate([hypothesis_mask, np.zeros((batch, extra2), bool)], axis=1))
    np.testing.assert_allclose(longer.logits.data, output.logits.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(longer.premise_weights.data[:, :premise_length, :hypothesis_length],
                               output.premise_weights.data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(longer.hypothesis_weights.data[:, :hypothesis_length, :premise_length],
                               output.hypothesis_weights.data, rtol=1e-12, atol=1e-15)
    assert np.all(longer.premise_weights.data[:, :, hypothesis_length:] == 0.0)
    assert np.all(longer.hypothesis_weights.data[:, hypothesis_length:] == 0.0)


def test_no_masks_are_the_same_as_all_true_masks():
    rng = np.random.default_rng(34)
    premise, hypothesis = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    module = DecomposableAttention(4, 3, 3, dtype=np.float64, rng=4)
    for unmasked, masked in zip(module(premise, hypothesis),
                                module(premise, hypothesis, np.ones((2, 3), bool), np.ones((2, 5), bool)),
                                strict=True):
        np.testing.assert_array_equal(unmasked.data, masked.data)


# ----- dropout --------------------------------------------------------------------------------------------------------
def _pair(seed=35):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 4, 3)),
            np.array([[True] * 5, [True, True, False, False, False], [True] * 5, [False] * 5]),
            np.array([[True] * 4, [True, False, True, False], [False] * 4, [True] * 4]))


def test_dropout_acts_only_in_training_mode():
    """In eval mode the output is deterministic and equals that of the same parameters without dropout; in training
    mode successive calls draw different masks and differ from it."""
    inputs = _pair()
    module = DecomposableAttention(3, 16, 2, dropout=0.5, dtype=np.float64, rng=5)
    without = DecomposableAttention(3, 16, 2, dropout=0.0, dtype=np.float64, rng=5)
    for a, b in zip(module.parameters(), without.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    reference = without(*inputs).logits.data
    module.eval()
    first, second = module(*inputs), module(*inputs)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(first.logits.data, reference)
    module.train()
    first, second = module(*inputs).logits.data, module(*inputs).logits.data
    assert not np.allclose(first, second)
    assert not np.allclose(first, reference) and not np.allclose(second, reference)
    without.train()  # p = 0: training mode changes nothing
    np.testing.assert_array_equal(without(*inputs).logits.data, reference)


def test_training_mode_dropout_is_reproducible_from_a_seed():
    """With an int rng the masks come from the module's own generator; with rng=None from the default generator,
    which ta.manual_seed resets."""
    inputs = _pair()
    first = DecomposableAttention(3, 16, 2, dropout=0.3, dtype=np.float64, rng=6)
    second = DecomposableAttention(3, 16, 2, dropout=0.3, dtype=np.float64, rng=6)
    runs = [[module(*inputs).logits.data for _ in range(2)] for module in (first, second)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.allclose(runs[0][0], runs[0][1])
    seeded = []
    for _ in range(2):
        ta.manual_seed(7)
        module = DecomposableAttention(3, 16, 2, dropout=0.3, dtype=np.float64)
        seeded.append([module(*inputs).logits.data for _ in range(2)])
    np.testing.assert_array_equal(seeded[0][0], seeded[1][0])
    np.testing.assert_array_equal(seeded[0][1], seeded[1][1])
    assert not np.allclose(seeded[0][0], seeded[0][1])


def test_dropout_in_training_keeps_gradients_finite_and_padding_at_zero():
    premise, hypothesis, premise_mask, hypothesis_mask = _pair()
    module = DecomposableAttention(3, 8, 2, dropout=0.5, dtype=np.float64, rng=8)
    premise, hypothesis = ta.tensor(premise, requires_grad=True), ta.tensor(hypothesis, requires_grad=True)
    output = module(premise, hypothesis, premise_mask, hypothesis_mask)
    S.projected(output, [np.random.default_rng(9).standard_normal(part.shape) for part in output]).backward()
    assert np.all(np.isfinite(premise.grad)) and np.all(premise.grad[~premise_mask] == 0.0)
    assert np.all(np.isfinite(hypothesis.grad)) and np.all(hypothesis.grad[~hypothesis_mask] == 0.0)


# ----- training -------------------------------------------------------------------------------------------------------
def containment_task(seed, examples=32, vocabulary=6, size=4):
    """Premises of 2-3 word vectors from a vocabulary of random vectors, hypotheses of 1-2: label 1 when every
    hypothesis word occurs in the premise, 0 when none does. Padded words hold noise (finite, ignored)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((vocabulary, size))
    premise = rng.standard_normal((examples, 3, size))
    hypothesis = rng.standard_normal((examples, 2, size))
    premise_mask = np.arange(3) < rng.integers(2, 4, examples)[:, None]
    hypothesis_mask = np.arange(2) < rng.integers(1, 3, examples)[:, None]
    labels = rng.integers(0, 2, examples)
    for k in range(examples):
        premise_ids = rng.integers(0, vocabulary, premise_mask[k].sum())
        inside = sorted(set(premise_ids.tolist()))
        pool = inside if labels[k] else [v for v in range(vocabulary) if v not in inside]
        premise[k, premise_mask[k]] = embeddings[premise_ids]
        hypothesis[k, hypothesis_mask[k]] = embeddings[rng.choice(pool, hypothesis_mask[k].sum())]
    return premise, hypothesis, premise_mask, hypothesis_mask, labels


def test_a_few_dozen_adam_steps_learn_a_word_containment_task():
    premise, hypothesis, premise_mask, hypothesis_mask, labels = containment_task(seed=0)
    module = DecomposableAttention(4, 8, 2, dtype=np.float64, rng=0)
    optimizer = Adam(module.parameters(), lr=0.03)

    def loss():
        return F.cross_entropy(module(premise, hypothesis, premise_mask, hypothesis_mask).logits, labels)

    start = loss().item()
    assert start > 0.5  # about log 2 at initialisation: nothing is known yet
    for _ in range(50):
        value = loss()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.3 * start  # 0.12 of 0.69 with these seeds; 0.69 if nothing were learned
    predictions = module(premise, hypothesis, premise_mask, hypothesis_mask).logits.data.argmax(axis=1)
    assert np.mean(predictions == labels) >= 0.9


# ----- dtypes -------------------------------------------------------------------------------------------------------
def test_float32_module_on_float32_inputs_stays_float32():
    rng = np.random.default_rng(36)
    module = DecomposableAttention(3, 4, 2, dropout=0.2, rng=0)
    premise = ta.tensor(rng.standard_normal((2, 3, 3)).astype(np.float32), requires_grad=True)
    hypothesis = ta.tensor(rng.standard_normal((2, 2, 3)).astype(np.float32), requires_grad=True)
    output = module(premise, hypothesis, np.array([[True, False, True], [True] * 3]), np.array([[True, True],
                                                                                                 [False, True]]))
    assert all(part.dtype == np.float32 for part in output)
    S.projected(output, [np.ones(part.shape, np.float32) for part in output]).backward()
    assert premise.grad.dtype == np.float32 and hypothesis.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in module.parameters())


def test_float32_module_refuses_float64_inputs_and_astype_converts_it():
    module = DecomposableAttention(3, 4, 2, rng=0)
    S.assert_error_names(DTypeError, lambda: module(np.zeros((2, 3, 3)), np.zeros((2, 2, 3))),
                         ["DecomposableAttention: ", "the inputs are float64 but the parameters are float32",
                          "premise (2, 3, 3) float64", "hypothesis (2, 2, 3) float64"])
    assert module.astype(np.float64)(np.zeros((2, 3, 3)), np.zeros((2, 2, 3))).logits.dtype == np.float64


# ----- bad input ----------------------------------------------------------------------------------------------------
def _floats(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


@pytest.mark.parametrize("inputs, error, fragments", [
    ((_floats(2, 3, 4), _floats(2, 5, 4), None, None), ShapeError,
     ["of size 3 on their last axis", "premise (2, 3, 4) float64", "hypothesis (2, 5, 4) float64"]),
    ((_floats(2, 3, 3), _floats(2, 5, 2), None, None), ShapeError,
     ["same feature size D", "premise (2, 3, 3) float64", "hypothesis (2, 5, 2) float64"]),
    ((_floats(2, 3, 3), _floats(1, 5, 3), None, None), ShapeError,
     ["same batch size B", "premise (2, 3, 3) float64", "hypothesis (1, 5, 3) float64"]),
    ((_floats(3, 3), _floats(2, 5, 3), None, None), ShapeError, ["(B, T1, D)", "premise (3, 3) float64"]),
    ((_floats(2, 3, 0), _floats(2, 5, 0), None, None), ShapeError, ["empty axis", "premise (2, 3, 0) float64"]),
    ((_floats(2, 3, 3), _floats(2, 0, 3), None, None), ShapeError, ["empty axis", "hypothesis (2, 0, 3) float64"]),
    ((_floats(2, 3, 3, dtype=np.int64), _floats(2, 5, 3, dtype=np.int64), None, None), DTypeError,
     ["float", "premise (2, 3, 3) int64", "hypothesis (2, 5, 3) int64"]),
    ((_floats(2, 3, 3, dtype=np.float32), _floats(2, 5, 3), None, None), DTypeError,
     ["share a dtype", "premise (2, 3, 3) float32", "hypothesis (2, 5, 3) float64"]),
    ((_floats(2, 3, 3), _floats(2, 5, 3), np.ones((2, 3), np.uint8), None), DTypeError,  # 0/1 ints are refused
     ["boolean", "premise_mask (2, 3) uint8"]),
    ((_floats(2, 3, 3), _floats(2, 5, 3), np.ones((2, 3), bool), np.ones((5, 2), bool)), ShapeError,
     ["(B, T) = (2, 5)", "premise_mask (2, 3) bool", "hypothesis_mask (5, 2) bool"]),
])
def test_bad_input_raises_an_error_naming_the_op_every_shape_and_dtype(inputs, error, fragments):
    module = DecomposableAttention(3, 4, 2, dtype=np.float64, rng=0)
    S.assert_error_names(error, lambda: module(*inputs), ["DecomposableAttention: ", *fragments])


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError),
                                          (None, TypeError)])
@pytest.mark.parametrize("name", ["input_size", "hidden_size", "num_classes"])
def test_constructor_refuses_sizes_that_are_not_positive_integers_naming_the_argument(name, value, error):
    sizes = {"input_size": 3, "hidden_size": 4, "num_classes": 2, name: value}
    with pytest.raises(error) as caught:
        DecomposableAttention(**sizes)
    assert type(caught.value) is error
    assert str(caught.value).startswith(f"DecomposableAttention: {name} must be an integer")
    assert f"{name}={value!r}" in str(caught.value)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5, float("nan")])
def test_constructor_refuses_a_dropout_outside_0_to_1(dropout):
    with pytest.raises(ValueError) as caught:
        DecomposableAttention(3, 4, 2, dropout=dropout)
    assert str(caught.value).startswith("DecomposableAttention: dropout must be in [0, 1)")
    assert f"dropout={dropout!r}" in str(caught.value)
