"""HierarchicalAttentionNetwork: gradients, both levels of padding, weights, dtypes, errors, and a tiny task learned.

Gradients of the logits and of both levels of weights, projected on random upstream gradients, are checked against
central differences in float64 with respect to every parameter, on tiny sizes (vocabulary 6, embeddings 3, hidden
2) with padded words and padded sentences drawn by Hypothesis.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import HierarchicalAttentionNetwork
from tinyattn.nn.module import Module
from tinyattn.optim import Adam

GRADIENT_EXAMPLES = 25
PROPERTY_EXAMPLES = 25
VOCAB, PAD = 6, 0


def tiny_model(dtype=np.float64, seed=0, num_classes=2):
    return HierarchicalAttentionNetwork(VOCAB, embed_size=3, word_hidden_size=2, sentence_hidden_size=2,
                                        attention_size=2, num_classes=num_classes, padding_idx=PAD, dtype=dtype,
                                        rng=seed)


@st.composite
def documents(draw, max_batch=3, max_sentences=3, max_words=3):
    """ids (B, S, W) in [0, VOCAB) with PAD = 0 as padding anywhere, but at least one real word per document; some
    sentences are fully padded (also between real ones)."""
    batch = draw(st.integers(1, max_batch), label="B")
    sentences = draw(st.integers(1, max_sentences), label="S")
    words = draw(st.integers(1, max_words), label="W")
    ids = draw(hnp.arrays(np.int64, (batch, sentences, words), elements=st.integers(0, VOCAB - 1)), label="ids")
    dropped = draw(hnp.arrays(np.bool_, (batch, sentences)), label="padded sentences")
    ids[dropped] = PAD
    for document in range(batch):
        if not (ids[document] != PAD).any():
            sentence = draw(st.integers(0, sentences - 1), label="kept sentence")
            ids[document, sentence, draw(st.integers(0, words - 1), label="kept word")] = \
                draw(st.integers(1, VOCAB - 1), label="kept id")
    return ids


# ----- gradients ----------------------------------------------------------------------------------------------------
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(documents(max_batch=2), st.integers(0, 2**16), st.data())
def test_gradients_of_logits_and_both_weights_wrt_all_parameters(ids, seed, data):
    model = tiny_model(seed=seed)
    logits, word_weights, sentence_weights = model(ids)
    upstreams = [data.draw(S.upstream_gradients(output.shape), label="upstream")
                 for output in (logits, word_weights, sentence_weights)]
    parameters = list(model.parameters())
    assert len(parameters) == 1 + 8 + 3 + 8 + 3 + 2  # embedding, both GRUs, both attentions, classifier
    ta.gradcheck(lambda *_: S.projected(model(ids), upstreams), *parameters)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(documents(), st.integers(0, 2**16))
def test_padding_embedding_row_and_unused_words_get_no_gradient(ids, seed):
    model = tiny_model(seed=seed)
    logits, word_weights, sentence_weights = model(ids)
    rng = np.random.default_rng(seed)
    S.projected([logits, word_weights, sentence_weights],
              [rng.standard_normal(output.shape) for output in (logits, word_weights, sentence_weights)]).backward()
    gradient = model.embedding.weight.grad
    assert np.all(gradient[PAD] == 0.0)
    unused = np.setdiff1d(np.arange(VOCAB), ids)
    assert np.all(gradient[unused] == 0.0)
    assert all(np.all(np.isfinite(parameter.grad)) for parameter in model.parameters())


# ----- weights and padding ------------------------------------------------------------------------------------------
def one_document_at_a_time(model, ids):
    """The network written out without any padding: each document alone, each sentence its real words only, the
    model's own layers called on unpadded (1, L, ...) inputs. Returns logits, word and sentence weights as arrays."""
    batch, sentences, _ = ids.shape
    logits = np.zeros((batch, model.num_classes))
    word_weights, sentence_weights = np.zeros(ids.shape), np.zeros((batch, sentences))
    for document in range(batch):
        vectors, real_sentences = [], []
        for sentence in range(sentences):
            real_words = np.flatnonzero(ids[document, sentence] != PAD)
            if real_words.size == 0:
                continue
            states, _ = model.word_encoder(model.embedding(ids[document, sentence, real_words][None]))  # (1, L, 2Hw)
            vector, weights = model.word_attention(states)  # (1, 2Hw), (1, L)
            word_weights[document, sentence, real_words] = weights.data[0]
            vectors.append(vector.data[0])
            real_sentences.append(sentence)
        states, _ = model.sentence_encoder(np.stack(vectors)[None])  # (1, Sr, 2Hs)
        document_vector, weights = model.sentence_attention(states)  # (1, 2Hs), (1, Sr)
        sentence_weights[document, real_sentences] = weights.data[0]
        logits[document] = model.classifier(document_vector).data[0]
    return logits, word_weights, sentence_weights


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(documents(max_sentences=4, max_words=4), st.integers(0, 2**16))
def test_batched_padded_forward_equals_the_network_run_on_each_document_without_padding(ids, seed):
    model = tiny_model(seed=seed, num_classes=3)
    outputs = model(ids)
    for output, expected in zip(outputs, one_document_at_a_time(model, ids), strict=True):
        np.testing.assert_allclose(output.data, expected, rtol=1e-10, atol=1e-13)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(documents(), st.integers(0, 2**16))
def test_weights_have_documented_shapes_and_sum_to_one_over_real_positions(ids, seed):
    logits, word_weights, sentence_weights = tiny_model(seed=seed, num_classes=3)(ids)
    batch, sentences, words = ids.shape
    assert logits.shape == (batch, 3)
    assert word_weights.shape == (batch, sentences, words) and sentence_weights.shape == (batch, sentences)
    real_words = ids != PAD
    real_sentences = real_words.any(axis=2)
    assert np.all(word_weights.data[~real_words] == 0.0)
    assert np.all(sentence_weights.data[~real_sentences] == 0.0)
    np.testing.assert_allclose(word_weights.data[real_sentences].sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(sentence_weights.data.sum(axis=-1), 1.0, rtol=1e-12)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(documents(), st.integers(1, 2), st.integers(1, 2), st.integers(0, 3), st.integers(0, 2**16))
def test_extra_padded_words_and_sentences_leave_logits_and_real_weights_unchanged(
        ids, extra_words, extra_sentences, insert_at, seed):
    model = tiny_model(seed=seed)
    logits, word_weights, sentence_weights = model(ids)
    batch, sentences, words = ids.shape
    wider = np.concatenate([ids, np.full((batch, sentences, extra_words), PAD)], axis=2)  # (B, S, W + extra)
    position = min(insert_at, sentences)  # padded sentences go anywhere, between real ones too
    blank = np.full((batch, extra_sentences, words + extra_words), PAD)
    padded = np.concatenate([wider[:, :position], blank, wider[:, position:]], axis=1)
    kept = np.r_[0:position, position + extra_sentences:sentences + extra_sentences]  # the original sentences
    padded_logits, padded_word_weights, padded_sentence_weights = model(padded)
    np.testing.assert_allclose(padded_logits.data, logits.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(padded_word_weights.data[:, kept, :words], word_weights.data, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(padded_sentence_weights.data[:, kept], sentence_weights.data, rtol=1e-10, atol=1e-13)
    assert np.all(padded_word_weights.data[:, :, words:] == 0.0)
    assert np.all(padded_sentence_weights.data[:, position:position + extra_sentences] == 0.0)


def test_a_given_mask_overrides_the_padding_id():
    """Positions the mask drops are padding whatever their ids; the default mask is ids != padding_idx."""
    ids = np.array([[[1, 2, 0], [3, 0, 0]], [[4, 5, 3], [0, 0, 0]]])
    model = tiny_model()
    default = model(ids)
    explicit = model(ids, ids != PAD)
    noisy_ids = np.where(ids == PAD, 5, ids)  # real-looking ids behind the mask
    masked = model(noisy_ids, ids != PAD)
    for a, b, c in zip(default, explicit, masked, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_allclose(c.data, a.data, rtol=1e-12, atol=1e-15)


def test_other_padding_idx_is_respected():
    ids = np.array([[[1, 2, 5], [5, 5, 5]]])
    model = HierarchicalAttentionNetwork(VOCAB, 3, 2, 2, 2, 2, padding_idx=5, dtype=np.float64, rng=0)
    _, word_weights, sentence_weights = model(ids)
    assert word_weights.data[0, 0, 2] == 0.0 and sentence_weights.data[0, 1] == 0.0
    np.testing.assert_allclose(sentence_weights.data[0, 0], 1.0)


def test_without_padding_idx_every_word_is_real():
    ids = np.array([[[0, 1, 2], [3, 0, 0]]])
    model = HierarchicalAttentionNetwork(VOCAB, 3, 2, 2, 2, 2, padding_idx=None, dtype=np.float64, rng=0)
    _, word_weights, sentence_weights = model(ids)
    assert np.all(word_weights.data > 0.0) and np.all(sentence_weights.data > 0.0)


def test_a_document_without_real_words_is_an_error_naming_it():
    ids = np.array([[[1, 2], [0, 0]], [[0, 0], [0, 0]], [[3, 0], [0, 0]]])
    with pytest.raises(ShapeError, match=r"^HierarchicalAttentionNetwork: every document needs at least one real word "
                                         r".*documents \[1\] have none.*; got ids \(3, 2, 2\) int64$"):
        tiny_model()(ids)
    with pytest.raises(ShapeError, match=r"documents \[0\] have none.*; got ids \(1, 2, 2\) int64, mask \(1, 2, 2\) "
                                         r"bool$"):
        tiny_model()(ids[:1] + 1, np.zeros((1, 2, 2), bool))


def test_float32_stays_float32():
    model = tiny_model(dtype=np.float32)
    ids = np.array([[[1, 2, 0], [3, 0, 0]], [[4, 5, 3], [0, 0, 0]]])
    logits, word_weights, sentence_weights = model(ids)
    assert logits.dtype == word_weights.dtype == sentence_weights.dtype == np.float32
    F.cross_entropy(logits, np.array([0, 1])).backward()
    assert all(parameter.grad.dtype == np.float32 for parameter in model.parameters())


@pytest.mark.parametrize("ids, mask, error, words", [
    (np.array([[1, 2, 3]]), None, ShapeError, ["(B, S, W)", "ids (1, 3) int64"]),
    (np.ones((1, 2, 3, 1), np.int64), None, ShapeError, ["(B, S, W)", "(1, 2, 3, 1)"]),
    (np.ones((1, 0, 3), np.int64), None, ShapeError, ["empty", "(1, 0, 3)"]),
    (np.ones((1, 2, 3)), None, DTypeError, ["integer", "float64"]),
    (np.full((1, 2, 3), VOCAB), None, ShapeError, [f"[0, {VOCAB})", "6"]),
    (np.full((1, 2, 3), -1), None, ShapeError, [f"[0, {VOCAB})", "-1"]),
    (np.ones((1, 2, 3), np.int64), np.ones((1, 2, 3)), DTypeError, ["boolean", "mask (1, 2, 3) float64"]),
    (np.ones((1, 2, 3), np.int64), np.ones((1, 2, 3), np.int8), DTypeError, ["boolean", "mask (1, 2, 3) int8"]),
    (np.ones((1, 2, 3), np.int64), np.ones((1, 6), bool), ShapeError, ["(1, 2, 3)", "mask (1, 6) bool"]),
])
def test_bad_input_raises_an_error_naming_shapes_and_dtypes(ids, mask, error, words):
    with pytest.raises(error) as caught:
        tiny_model()(ids, mask)
    message = str(caught.value)
    assert "HierarchicalAttentionNetwork" in message
    for word in words:
        assert word in message


class GarbageAtPadding(Module):
    """An encoder whose states hold garbage (NaN, inf) at the padded positions, as a buffer reused for padding may;
    the GRU's own states are zero there."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x, mask):
        states, final = self.encoder(x, mask=mask)
        garbage = np.resize(np.array([np.nan, np.inf, -np.inf]), states.shape)
        return F.where(np.broadcast_to(mask[..., None], states.shape), states, garbage), final


def _logits_weights_and_gradients(model, ids, upstreams):
    model.zero_grad()
    outputs = model(ids)
    S.projected(outputs, upstreams).backward()
    return [output.data for output in outputs], {name.replace("_encoder.encoder.", "_encoder."): parameter.grad
                                                 for name, parameter in model.named_parameters()}


def test_garbage_in_padded_word_and_sentence_states_changes_no_output_and_no_gradient():
    ids = np.array([[[1, 2, 0], [0, 0, 0], [3, 0, 0]], [[4, 5, 3], [2, 0, 0], [0, 0, 0]]])  # padded words, sentences
    rng = np.random.default_rng(9)
    model = tiny_model()
    upstreams = [rng.standard_normal(output.shape) for output in model(ids)]
    outputs, gradients = _logits_weights_and_gradients(model, ids, upstreams)
    model.word_encoder = GarbageAtPadding(model.word_encoder)
    model.sentence_encoder = GarbageAtPadding(model.sentence_encoder)
    dirty_outputs, dirty_gradients = _logits_weights_and_gradients(model, ids, upstreams)
    assert dirty_gradients.keys() == gradients.keys()  # the same parameters
    for got, expected in zip(dirty_outputs, outputs, strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, expected)
    for name, expected in gradients.items():
        assert np.all(np.isfinite(dirty_gradients[name])), name
        np.testing.assert_array_equal(dirty_gradients[name], expected, err_msg=name)


@pytest.mark.parametrize("value, error", [(0, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError)])
@pytest.mark.parametrize("name", ["vocab_size", "embed_size", "word_hidden_size", "sentence_hidden_size",
                                  "attention_size", "num_classes"])
def test_constructor_refuses_sizes_that_are_not_positive_integers_naming_the_argument(name, value, error):
    sizes = {"vocab_size": VOCAB, "embed_size": 3, "word_hidden_size": 2, "sentence_hidden_size": 2,
             "attention_size": 2, "num_classes": 2, name: value}
    with pytest.raises(error) as caught:
        HierarchicalAttentionNetwork(**sizes, padding_idx=None)
    assert type(caught.value) is error
    assert str(caught.value).startswith(f"HierarchicalAttentionNetwork: {name} must be an integer")
    assert f"got {name}={value!r}" in str(caught.value)


def test_a_negative_padding_idx_counts_from_the_end_as_in_the_embedding():
    ids = np.array([[[1, 2, 5], [5, 5, 5]]])
    model = HierarchicalAttentionNetwork(VOCAB, 3, 2, 2, 2, 2, padding_idx=-1, dtype=np.float64, rng=0)
    assert model.padding_idx == VOCAB - 1 == model.embedding.padding_idx
    _, word_weights, sentence_weights = model(ids)
    assert word_weights.data[0, 0, 2] == 0.0 and sentence_weights.data[0, 1] == 0.0


def test_same_seed_gives_the_same_model():
    first, second = tiny_model(seed=3), tiny_model(seed=3)
    for (name, a), (_, b) in zip(first.named_parameters(), second.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


# ----- learning -----------------------------------------------------------------------------------------------------
KEYWORD, TASK_VOCAB = 1, 8


def keyword_documents(count, rng, sentences=3, words=5):
    """Ragged documents of filler ids 2..7; half of them (label 1) hold the keyword once, at a recorded (s, w)."""
    ids = np.zeros((count, sentences, words), np.int64)
    labels = rng.integers(0, 2, count)
    where = np.full((count, 2), -1)
    for document in range(count):
        used = rng.integers(1, sentences + 1)
        for sentence in range(used):
            length = rng.integers(1, words + 1)
            ids[document, sentence, :length] = rng.integers(2, TASK_VOCAB, length)
        if labels[document]:
            sentence = rng.integers(0, used)
            word = rng.integers(0, np.count_nonzero(ids[document, sentence]))
            ids[document, sentence, word] = KEYWORD
            where[document] = sentence, word
    return ids, labels, where


def test_learns_whether_a_keyword_appears_and_attends_to_it():
    rng = np.random.default_rng(0)  # fixed seeds: deterministic; this run reaches 100% on all three figures
    train_ids, train_labels, _ = keyword_documents(256, rng)
    test_ids, test_labels, where = keyword_documents(200, rng)
    model = HierarchicalAttentionNetwork(TASK_VOCAB, 8, 8, 8, 8, 2, rng=0)
    optimizer = Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        batch = rng.integers(0, len(train_ids), 32)
        logits, _, _ = model(train_ids[batch])
        loss = F.cross_entropy(logits, train_labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with ta.no_grad():
        logits, word_weights, sentence_weights = model(test_ids)
    assert np.mean(logits.numpy().argmax(axis=1) == test_labels) >= 0.95
    positives = np.flatnonzero(test_labels == 1)
    sentence, word = where[positives, 0], where[positives, 1]
    word_peaks = word_weights.numpy()[positives, sentence].argmax(axis=-1) == word
    sentence_peaks = sentence_weights.numpy()[positives].argmax(axis=-1) == sentence
    assert word_peaks.mean() >= 0.9 and sentence_peaks.mean() >= 0.9
