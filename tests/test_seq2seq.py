"""Encoder-decoder attention: gradients of every decoder, masks, teacher forcing vs stepping, greedy and beam search,
float32, a copy task that trains, and bad input.

Tiny sizes throughout (vocabulary 5: pad 0, bos 1, eos 2 and two real tokens; embeddings 3; states 3; S <= 4;
T <= 3; B <= 2) so that gradient checks in float64 stay fast. Window half-width 1, so that local attention over
4 source positions differs from global attention.
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import BahdanauDecoder, LuongDecoder, PlainDecoder, Seq2Seq, Seq2SeqEncoder
from tinyattn.attention.decoding import beam_search, greedy_search
from tinyattn.optim import Adam

PAD, BOS, EOS = 0, 1, 2
VOCAB, EMBED, HIDDEN, WINDOW, MAX_SOURCE = 5, 3, 3, 1, 4
GRADIENT_EXAMPLES = 10  # per decoder kind (14 kinds): ~100 forward passes each
PROPERTY_EXAMPLES = 15
BEAM_EXAMPLES = 50  # beam 1 == greedy: a strided-input rounding difference showed up in ~3% of random cases

LUONG_KINDS = [f"luong-{score}-{attention}" for score in ("general", "dot", "concat", "location")
               for attention in ("global", "local-m", "local-p")]
KINDS = ["plain", "bahdanau"] + LUONG_KINDS + ["luong-general-local-p+nofeed"]  # +nofeed: input_feeding=False
ATTENTION_KINDS = KINDS[1:]


def make_model(kind, dtype=np.float64, seed=0, vocab=VOCAB, embed=EMBED, hidden=HIDDEN, window=WINDOW,
               max_source_length=MAX_SOURCE):
    """A Seq2Seq of `kind` ("plain", "bahdanau" or "luong-<score>-<attention>[+nofeed]"); the dot score gets encoder
    states of the decoder's size (encoder hidden size hidden - 1, decoder hidden size 2 * (hidden - 1))."""
    rng = np.random.default_rng(seed)
    encoder_hidden = hidden - 1 if "-dot-" in kind else hidden
    encoder = Seq2SeqEncoder(vocab, embed, encoder_hidden, dtype=dtype, rng=rng)
    size = encoder.output_size
    if kind == "plain":
        decoder = PlainDecoder(vocab, embed, hidden, size, dtype=dtype, rng=rng)
    elif kind == "bahdanau":
        decoder = BahdanauDecoder(vocab, embed, hidden, size, dtype=dtype, rng=rng)
    else:
        kind, _, option = kind.partition("+")
        _, score, attention = kind.split("-", 2)
        decoder = LuongDecoder(vocab, embed, size if score == "dot" else hidden, size, score=score, attention=attention,
                               window=window, max_source_length=max_source_length, input_feeding=option != "nofeed",
                               dtype=dtype, rng=rng)
    return Seq2Seq(encoder, decoder, BOS, EOS, PAD)


@st.composite
def batches(draw, max_batch=2, max_source=MAX_SOURCE, max_target=3, padded=True):
    """(source_ids (B, S), source_mask (B, S), target_ids (B, T)): right-padded sources, at least one padded position
    when `padded` and S > 1; targets are real tokens, eos, then pad."""
    batch = draw(st.integers(1, max_batch), label="B")
    length = draw(st.integers(2 if padded else 1, max_source), label="S")
    lengths = draw(st.lists(st.integers(1, length), min_size=batch, max_size=batch), label="lengths")
    if padded:
        lengths[0] = draw(st.integers(1, length - 1), label="padded row length")
    mask = np.arange(length)[None, :] < np.array(lengths)[:, None]  # (B, S), True = real
    tokens = draw(hnp.arrays(np.int64, (batch, length), elements=st.integers(3, VOCAB - 1)), label="source")
    source = np.where(mask, tokens, PAD)
    steps = draw(st.integers(1, max_target), label="T")
    target = np.full((batch, steps), PAD, dtype=np.int64)
    for row in range(batch):
        real = draw(st.integers(0, steps - 1), label="target length")
        target[row, :real] = draw(st.lists(st.integers(3, VOCAB - 1), min_size=real, max_size=real))
        target[row, real] = EOS
    return source, mask, target


def teacher_inputs(target):
    return np.concatenate([np.full((target.shape[0], 1), BOS), target[:, :-1]], axis=1)


# ----- gradients ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(data=st.data())
def test_loss_logits_and_weights_gradients_wrt_every_parameter_match_central_differences(kind, data):
    model = make_model(kind, seed=data.draw(st.integers(0, 99), label="seed"))
    source, mask, target = data.draw(batches(), label="batch")

    # Steps fed pad (after eos) are left out: the embedding's pad row is frozen (no gradient), so perturbing it, as
    # a finite difference does, would change outputs that its zero gradient claims it cannot.
    fed = teacher_inputs(target) != PAD  # (B, T)

    def forward(*_):  # gradcheck perturbs the parameters in place; the model reads them itself
        logits, weights = model(source, mask, teacher_inputs(target))
        parts = [model.loss(source, mask, target).reshape(1), logits[fed].reshape(-1)]
        return F.concatenate(parts + ([] if weights is None else [weights[fed].reshape(-1)]))

    upstream = data.draw(S.upstream_gradients(forward().shape), label="upstream")
    # Random-direction mode for every parameter (max_elementwise=0): four forward passes per parameter tensor.
    assert ta.gradcheck(forward, *model.parameters(), grad_output=upstream, max_elementwise=0, directions=2)


# ----- masks, shapes, teacher forcing ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ATTENTION_KINDS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data())
def test_weights_have_documented_shape_zero_on_padding_and_rows_normalised_or_inside_the_window(kind, data):
    model = make_model(kind, seed=data.draw(st.integers(0, 99), label="seed"))
    source, mask, target = data.draw(batches(), label="batch")
    logits, weights = model(source, mask, teacher_inputs(target))
    batch, steps = target.shape
    assert logits.shape == (batch, steps, VOCAB) and weights.shape == (batch, steps, source.shape[1])
    weights = weights.data
    assert np.all(weights[np.broadcast_to(~mask[:, None, :], weights.shape)] == 0.0)  # exactly zero on padding
    assert np.all(weights >= 0)
    sums = weights.sum(axis=-1)
    if "local-p" in kind:  # softmax over the window times a Gaussian <= 1: rows sum to at most one
        assert np.all(sums <= 1 + 1e-12) and np.all(sums > 0)
        for row in range(batch):
            for t in range(steps):
                support = np.flatnonzero(weights[row, t])
                assert support.max() - support.min() <= 2 * WINDOW
    else:
        np.testing.assert_allclose(sums, 1.0, atol=1e-12)
    if "local-m" in kind:  # inside [p_t - D, p_t + D], p_t = min(t, S_b - 1)
        lengths = mask.sum(axis=1)
        for row, t in itertools.product(range(batch), range(steps)):
            centre = min(t, lengths[row] - 1)
            outside = np.abs(np.arange(source.shape[1]) - centre) > WINDOW
            assert np.all(weights[row, t, outside] == 0.0)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_padded_source_tokens_do_not_change_logits(kind, data):
    model = make_model(kind, seed=data.draw(st.integers(0, 99), label="seed"))
    source, mask, target = data.draw(batches(), label="batch")
    other = np.where(mask, source, data.draw(st.integers(1, VOCAB - 1), label="padding token"))
    first, _ = model(source, mask, teacher_inputs(target))
    second, _ = model(other, mask, teacher_inputs(target))
    np.testing.assert_array_equal(first.data, second.data)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_teacher_forced_forward_equals_stepping_token_by_token(kind, data):
    model = make_model(kind, seed=data.draw(st.integers(0, 99), label="seed"))
    source, mask, target = data.draw(batches(), label="batch")
    target_in = teacher_inputs(target)
    logits, weights = model(source, mask, target_in)
    states, final = model.encoder(source, mask)
    state = model.decoder.start(states, final, mask)
    for t in range(target.shape[1]):
        step_logits, state, step_weights = model.decoder.step(target_in[:, t], state)
        np.testing.assert_allclose(step_logits.data, logits.data[:, t], rtol=1e-12, atol=1e-12)
        if weights is None:
            assert step_weights is None
        else:
            np.testing.assert_allclose(step_weights.data, weights.data[:, t], rtol=1e-12, atol=1e-12)


def test_decoder_state_reorder_selects_batch_rows():
    model = make_model("luong-concat-local-p")
    source = np.array([[3, 4, 3], [4, 4, 0]])
    mask = source != PAD
    states, final = model.encoder(source, mask)
    state = model.decoder.start(states, final, mask)
    swapped = state.reorder([1, 0, 1])
    np.testing.assert_array_equal(swapped.hidden.data, state.hidden.data[[1, 0, 1]])
    np.testing.assert_array_equal(swapped.source_mask, mask[[1, 0, 1]])
    np.testing.assert_array_equal(swapped.keys.data, states.data[[1, 0, 1]])
    logits, _, _ = model.decoder.step(np.array([BOS, BOS, BOS]), swapped)
    single, _, _ = model.decoder.step(np.array([BOS, BOS]), state)
    np.testing.assert_allclose(logits.data, single.data[[1, 0, 1]], atol=1e-12)


def test_encoder_final_is_the_forward_state_at_the_last_real_token_and_the_backward_state_at_the_first():
    model = make_model("plain")
    source = np.array([[3, 4, 3, 4], [4, 3, 0, 0]])
    mask = source != PAD
    states, final = model.encoder(source, mask)
    size = model.encoder.hidden_size
    assert states.shape == (2, 4, 2 * size) and final.shape == (2, 2 * size) == (2, model.encoder.output_size)
    np.testing.assert_array_equal(final.data[:, :size], states.data[[0, 1], [3, 1], :size])
    np.testing.assert_array_equal(final.data[:, size:], states.data[:, 0, size:])
    assert np.all(states.data[~mask] == 0)


# ----- padding cannot leak ------------------------------------------------------------------------------------
GARBAGE = np.array([np.nan, np.inf, -np.inf, 1e300])  # what a padding buffer may hold


def decoder_outputs_and_gradients(decoder, states, final, mask, target_in, upstreams):
    """Teacher forcing's logits and weights, and the gradients of their projection on `upstreams` with respect to
    the encoder states, the encoder's final vector and every decoder parameter (zeros where none reaches)."""
    decoder.zero_grad()
    states, final = ta.tensor(states, requires_grad=True), ta.tensor(final, requires_grad=True)
    logits, weights = decoder(states, final, mask, target_in)
    outputs = [logits] + ([] if weights is None else [weights])
    S.projected(outputs, upstreams).backward()
    tensors = [states, final, *decoder.parameters()]
    return [output.data for output in outputs], [np.zeros(t.shape) if t.grad is None else t.grad for t in tensors]


@pytest.mark.parametrize("kind", KINDS)
def test_nan_and_inf_in_padded_encoder_states_change_no_logit_weight_or_gradient(kind):
    model = make_model(kind, seed=4)
    source = np.array([[3, 4, 3, 4], [4, 3, 0, 0], [3, 0, 0, 0]])
    mask = source != PAD
    target_in = teacher_inputs(np.array([[3, 4, EOS], [4, EOS, PAD], [EOS, PAD, PAD]]))
    states, final = model.encoder(source, mask)
    clean, final = states.data, final.data
    assert np.all(clean[~mask] == 0.0)  # what the encoder gives: zeros at padding
    dirty = clean.copy()
    dirty[~mask] = np.resize(GARBAGE, dirty[~mask].shape)
    rng = np.random.default_rng(5)
    upstreams = [rng.standard_normal(shape) for shape in [(3, 3, VOCAB)] + ([] if kind == "plain" else [(3, 3, 4)])]
    outputs, gradients = decoder_outputs_and_gradients(model.decoder, clean, final, mask, target_in, upstreams)
    dirty_outputs, dirty_gradients = decoder_outputs_and_gradients(model.decoder, dirty, final, mask, target_in,
                                                                   upstreams)
    for got, expected in zip(dirty_outputs + dirty_gradients, outputs + gradients, strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(dirty_gradients[0][~mask], 0.0)
    for search, options in ((greedy_search, {"max_length": 3}), (beam_search, {"beam_size": 2, "max_length": 3})):
        ids, weights = search(model.decoder, clean, final, mask, BOS, EOS, PAD, **options)
        dirty_ids, dirty_weights = search(model.decoder, dirty, final, mask, BOS, EOS, PAD, **options)
        np.testing.assert_array_equal(dirty_ids, ids)
        if weights is not None:
            np.testing.assert_array_equal(dirty_weights, weights)


# ----- greedy and beam search ------------------------------------------------------------------------------------
def bias_towards_eos(model, amount):
    """Raise the eos logit by `amount`, so that random models end their outputs at various steps."""
    output = model.decoder.output if hasattr(model.decoder, "output") else model.decoder.deep_output.output
    output.bias.data[EOS] += amount


def check_decoded(ids, weights, max_length, source_length):
    """Rows read: real tokens (never bos or pad), eos, then pad with zero weights; L <= max_length."""
    assert ids.dtype == np.int64 and ids.ndim == 2 and 1 <= ids.shape[1] <= max_length
    if weights is not None:
        assert weights.shape == ids.shape + (source_length,)
    for row in range(ids.shape[0]):
        ends = np.flatnonzero(ids[row] == EOS)
        stop = ends[0] + 1 if ends.size else ids.shape[1]
        assert not np.isin(ids[row, :stop], [PAD, BOS]).any()
        assert np.all(ids[row, stop:] == PAD)
        if weights is not None:
            assert np.all(weights[row, stop:] == 0)
    return True


@settings(max_examples=BEAM_EXAMPLES, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS), dtype=st.sampled_from([np.float32, np.float64]),
       eos_bias=st.floats(-1.0, 3.0))
def test_beam_search_with_one_beam_gives_exactly_greedys_ids_and_weights(data, kind, dtype, eos_bias):
    model = make_model(kind, dtype=dtype, seed=data.draw(st.integers(0, 999), label="seed"))
    bias_towards_eos(model, eos_bias)
    source, mask, _ = data.draw(batches(max_batch=3), label="batch")
    max_length = data.draw(st.integers(1, 6), label="max_length")
    ids, weights = model.greedy(source, mask, max_length)
    beam_ids, beam_weights = model.beam_search(source, mask, beam_size=1, max_length=max_length)
    assert check_decoded(ids, weights, max_length, source.shape[1])
    np.testing.assert_array_equal(beam_ids, ids)
    if weights is None:
        assert beam_weights is None
    else:
        assert weights.dtype == dtype and beam_weights.dtype == dtype
        np.testing.assert_array_equal(beam_weights, weights)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), kind=st.sampled_from(ATTENTION_KINDS), beam_size=st.integers(1, 4),
       eos_bias=st.floats(-4.0, 0.0), length_penalty=st.sampled_from([0.0, 1.0]))
def test_decoded_weights_are_those_of_teacher_forcing_the_decoded_ids(data, kind, beam_size, eos_bias, length_penalty):
    # Checks that beam search carries each step's weights along the beams' back-pointers: feeding the returned ids
    # back in must reproduce, row by row and step by step, the weights that came with them. eos is made rare, so
    # that outputs are long and beams swap places.
    model = make_model(kind, seed=data.draw(st.integers(0, 999), label="seed"))
    bias_towards_eos(model, eos_bias)
    source, mask, _ = data.draw(batches(max_batch=3), label="batch")
    ids, weights = model.beam_search(source, mask, beam_size=beam_size, max_length=4, length_penalty=length_penalty)
    assert check_decoded(ids, weights, 4, source.shape[1])
    with ta.no_grad():
        _, forced = model(source, mask, teacher_inputs(ids))
    real = np.cumsum(ids == EOS, axis=1) - (ids == EOS) == 0  # (B, L): the steps up to and including eos
    np.testing.assert_allclose(weights[real], forced.data[real], rtol=1e-9, atol=1e-12)
    assert np.all(weights[~real] == 0)


def test_greedy_stops_at_eos_and_pads_after():
    model = make_model("bahdanau", seed=3)
    source = np.array([[3, 4, 3, 4], [4, 3, 0, 0]])
    mask = source != PAD
    bias_towards_eos(model, 50.0)  # eos at the first step, whatever the source
    ids, weights = model.greedy(source, mask, max_length=5)
    np.testing.assert_array_equal(ids, [[EOS], [EOS]])
    assert weights.shape == (2, 1, 4)
    bias_towards_eos(model, -100.0)  # eos never: every row runs to max_length
    ids, weights = model.greedy(source, mask, max_length=5)
    assert ids.shape == (2, 5) and not np.isin(ids, [PAD, BOS, EOS]).any()
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-6)


def sequence_log_probability(model, source, mask, ids):
    """log p(ids | source) for one row, under the decoding distribution (bos and pad banned), up to and including
    the first eos; ids (L,)."""
    ends = np.flatnonzero(ids == EOS)
    ids = ids[:ends[0] + 1] if ends.size else ids[ids != PAD]
    with ta.no_grad():
        logits, _ = model(source, mask, np.concatenate([[BOS], ids[:-1]])[None, :])
    allowed = np.ones(VOCAB, dtype=bool)
    allowed[[BOS, PAD]] = False
    log_probs = F.log_softmax(logits, axis=-1, mask=allowed).data[0]  # (L, V)
    return float(log_probs[np.arange(len(ids)), ids].sum())


@settings(max_examples=10, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS), eos_bias=st.floats(-1.0, 2.0))
def test_exhaustive_beam_search_finds_the_most_probable_output_so_never_loses_to_greedy(data, kind, eos_bias):
    # With 3 allowed tokens (eos and two real ones) and max_length 3 there are 3 + 6 + 12 = 21 hypotheses at most
    # ever alive or finished; a beam of 32 keeps every one, so beam search is exhaustive and must find the argmax.
    model = make_model(kind, seed=data.draw(st.integers(0, 999), label="seed"))
    bias_towards_eos(model, eos_bias)
    source, mask, _ = data.draw(batches(max_batch=1), label="batch")
    max_length = 3
    best = max(
        sequence_log_probability(model, source, mask, np.array(candidate))
        for length in range(1, max_length + 1)
        for candidate in itertools.product([EOS, 3, 4], repeat=length)
        if EOS not in candidate[:-1] and (candidate[-1] == EOS or length == max_length))
    beam_ids, _ = model.beam_search(source, mask, beam_size=32, max_length=max_length)
    greedy_ids, _ = model.greedy(source, mask, max_length)
    beam_score = sequence_log_probability(model, source, mask, beam_ids[0])
    assert beam_score == pytest.approx(best, abs=1e-12)
    assert beam_score >= sequence_log_probability(model, source, mask, greedy_ids[0]) - 1e-12


@settings(max_examples=10, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS), eos_bias=st.floats(-1.0, 2.0),
       length_penalty=st.sampled_from([0.5, 1.0, 2.0]))
def test_exhaustive_beam_search_maximises_the_length_penalised_score(data, kind, eos_bias, length_penalty):
    model = make_model(kind, seed=data.draw(st.integers(0, 999), label="seed"))
    bias_towards_eos(model, eos_bias)
    source, mask, _ = data.draw(batches(max_batch=1), label="batch")
    candidates = [np.array(candidate) for length in range(1, 4) for candidate in itertools.product([EOS, 3, 4],
                  repeat=length) if EOS not in candidate[:-1] and (candidate[-1] == EOS or length == 3)]
    best = max(sequence_log_probability(model, source, mask, ids) / len(ids) ** length_penalty for ids in candidates)
    beam_ids, _ = model.beam_search(source, mask, beam_size=32, max_length=3, length_penalty=length_penalty)
    length = np.count_nonzero(beam_ids[0] != PAD)
    score = sequence_log_probability(model, source, mask, beam_ids[0]) / length ** length_penalty
    assert score == pytest.approx(best, abs=1e-12)


def test_beam_search_length_penalty_prefers_longer_outputs():
    model = make_model("luong-general-global", seed=5)
    bias_towards_eos(model, 1.0)
    source = np.array([[3, 4, 4, 3]])
    mask = source != PAD
    plain, _ = model.beam_search(source, mask, beam_size=4, max_length=6, length_penalty=0.0)
    normalised, _ = model.beam_search(source, mask, beam_size=4, max_length=6, length_penalty=1.0)
    assert (normalised != PAD).sum() >= (plain != PAD).sum()


# ----- dtypes --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_float32_model_keeps_float32_forward_backward_and_decoding(kind):
    model = make_model(kind, dtype=np.float32, seed=1)
    source = np.array([[3, 4, 3, 4], [4, 3, 0, 0]])
    mask = source != PAD
    target = np.array([[3, 4, EOS], [4, EOS, PAD]])
    logits, weights = model(source, mask, teacher_inputs(target))
    assert logits.dtype == np.float32 and (weights is None or weights.dtype == np.float32)
    loss = model.loss(source, mask, target)
    assert loss.dtype == np.float32
    loss.backward()
    assert all(parameter.grad.dtype == np.float32 for parameter in model.parameters() if parameter.grad is not None)
    _, decoded_weights = model.beam_search(source, mask, beam_size=2, max_length=3)
    assert decoded_weights is None or decoded_weights.dtype == np.float32


# ----- learning ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["luong-general-global", "bahdanau"])
def test_reversing_four_tokens_is_learned(kind):
    # A fixed seed; the loss of an untrained model is about log(8) = 2.1 and reaches ~0.1 within 150 steps here.
    rng = np.random.default_rng(0)
    vocab = 9  # pad, bos, eos and six tokens
    model = make_model(kind, dtype=np.float32, seed=0, vocab=vocab, embed=8, hidden=16, max_source_length=4)
    optimizer = Adam(list(model.parameters()), lr=0.02)
    mask = np.ones((32, 4), dtype=bool)
    losses = []
    for _ in range(150):
        source = rng.integers(3, vocab, (32, 4))
        target = np.concatenate([source[:, ::-1], np.full((32, 1), EOS)], axis=1)
        loss = model.loss(source, mask, target)
        model.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert np.mean(losses[:5]) > 1.8 and np.mean(losses[-5:]) < 0.5
    source = rng.integers(3, vocab, (64, 4))
    ids, weights = model.greedy(source, np.ones((64, 4), dtype=bool), max_length=6)
    accuracy = np.mean(ids[:, :4] == source[:, ::-1])
    assert accuracy > 0.8
    assert weights.shape[:2] == ids.shape


# ----- bad input -----------------------------------------------------------------------------------------------
def test_bad_input_raises_clear_errors():
    model = make_model("bahdanau")
    source = np.array([[3, 4, 0]])
    mask = source != PAD
    target = np.array([[3, EOS]])
    with pytest.raises(DTypeError, match="source_ids must be integers"):
        model.loss(source.astype(float), mask, target)
    with pytest.raises(DTypeError, match="source_mask must be boolean"):
        model.loss(source, mask.astype(int), target)
    with pytest.raises(ShapeError, match=r"source_mask must have shape \(B, S\) = \(1, 3\).*source_mask \(1, 2\) bool"):
        model.loss(source, mask[:, :2], target)
    with pytest.raises(ShapeError, match=r"rows \[0\] have none"):
        model.loss(source, np.zeros_like(mask), target)
    with pytest.raises(ShapeError, match=r"source_ids must lie in \[0, 5\)"):
        model.loss(source + 10, mask, target)
    with pytest.raises(ShapeError, match="target_ids must be integers"):
        model.loss(source, mask, target.astype(float))
    with pytest.raises(ShapeError, match="target_ids must be integers"):
        model.loss(source, mask, np.concatenate([target, target]))
    with pytest.raises(ValueError, match="beam_size"):
        model.beam_search(source, mask, beam_size=0, max_length=3)
    with pytest.raises(ValueError, match="max_length"):
        model.greedy(source, mask, max_length=0)


def encoded(name):
    """(model `name`, one padded source row, its mask, the encoder's states and final vector)."""
    model = make_model(name)
    source = np.array([[3, 4, 0]])
    mask = source != PAD
    states, final = model.encoder(source, mask)
    return model, source, mask, states, final


def test_decoder_boundary_errors_name_shapes_and_dtypes():
    model, _, mask, states, final = encoded("luong-general-global")
    decoder = model.decoder
    with pytest.raises(DTypeError, match=r"parameters are float64.*; got encoder_states \(1, 3, 6\) float32"):
        decoder.start(states.astype(np.float32), final.astype(np.float32), mask)
    with pytest.raises(ShapeError, match="encoder_size 6"):
        decoder.start(states[..., :4], final[..., :4], mask)
    with pytest.raises(DTypeError, match=r"source_mask must be boolean \(B, S\).*source_mask \(1, 3\) int8"):
        decoder.start(states, final, mask.astype(np.int8))  # 0/1 integers: refused, not read as a keep mask
    state = decoder.start(states, final, mask)
    with pytest.raises(ShapeError, match=r"token_ids must be integers \(B,\)"):
        decoder.step(np.array([1.0]), state)
    with pytest.raises(ShapeError, match="token_ids must lie"):
        decoder.step(np.array([7]), state)
    with pytest.raises(ShapeError, match="target_in must be integers"):
        decoder(states, final, mask, np.array([1, 3]))


def test_decoder_errors_name_the_operation_and_every_input_shape_and_dtype():
    model, source, mask, states, final = encoded("bahdanau")
    decoder = model.decoder
    with pytest.raises(ShapeError) as caught:
        decoder.start(states, final, np.zeros_like(mask))
    assert str(caught.value) == (
        "BahdanauDecoder.start: every source row needs at least one real token (True in source_mask), but source rows "
        "[0] have none; drop them from the batch; got encoder_states (1, 3, 6) float64, encoder_final (1, 6) float64, "
        "source_mask (1, 3) bool")
    with pytest.raises(ShapeError, match=r"^BahdanauDecoder.start: expected encoder_states \(B, S, De\) .*; got "
                                         r"encoder_states \(3, 6\) float64, encoder_final \(1, 6\) float64"):
        decoder.start(states.data[0], final, mask)
    state = decoder.start(states, final, mask)
    with pytest.raises(ShapeError, match=r"^BahdanauDecoder.step: token_ids must be integers \(B,\) with B = 1; got "
                                         r"token_ids \(2,\) int64, hidden \(1, 3\) float64$"):
        decoder.step(np.array([1, 3]), state)
    with pytest.raises(ShapeError, match=r"^BahdanauDecoder: target_in must lie in \[0, 5\), but they range from 1 "
                                         r"to 9; got target_in \(1, 2\) int64, encoder_final \(1, 6\) float64$"):
        decoder(states, final, mask, np.array([[1, 9]]))
    with pytest.raises(ShapeError, match=r"^Seq2Seq.loss: target_ids must be integers \(B, T\) with T >= 1 and B = 1; "
                                         r"got target_ids \(1, 0\) int64, source_ids \(1, 3\) int64$"):
        model.loss(source, mask, np.zeros((1, 0), np.int64))
    with pytest.raises(TypeError, match=r"^Seq2Seq.beam_search: beam_size must be an integer; got "
                                        r"beam_size=1.5 \(float\)$"):
        model.beam_search(source, mask, beam_size=1.5, max_length=3)
    with pytest.raises(ValueError, match=r"^Seq2Seq.beam_search: beam_size must be an integer >= 1; got "
                                         r"beam_size=0$"):
        model.beam_search(source, mask, beam_size=0, max_length=3)


def test_construction_errors():
    with pytest.raises(ShapeError, match="hidden_size .3. must equal encoder_size .6."):
        LuongDecoder(VOCAB, EMBED, 3, 6, score="dot")
    with pytest.raises(ValueError, match="max_source_length"):
        LuongDecoder(VOCAB, EMBED, 3, 6, score="location")
    with pytest.raises(ValueError, match="attention must be"):
        LuongDecoder(VOCAB, EMBED, 3, 6, attention="local")
    with pytest.raises(ValueError, match="window"):
        LuongDecoder(VOCAB, EMBED, 3, 6, attention="local-m", window=-1)
    encoder = Seq2SeqEncoder(VOCAB, EMBED, 3, dtype=np.float32, rng=0)
    with pytest.raises(DTypeError, match="must share a dtype.*float32 parameters.*float64 parameters"):
        Seq2Seq(encoder, BahdanauDecoder(VOCAB, EMBED, 3, 6, dtype=np.float64, rng=0), BOS, EOS, PAD)
    with pytest.raises(ShapeError, match="output_size must equal.*output_size 6.*encoder_size 4"):
        Seq2Seq(encoder, BahdanauDecoder(VOCAB, EMBED, 3, 4, dtype=np.float32, rng=0), BOS, EOS, PAD)
    with pytest.raises(ValueError, match="distinct"):
        Seq2Seq(encoder, BahdanauDecoder(VOCAB, EMBED, 3, 6, dtype=np.float32, rng=0), BOS, BOS, PAD)
    with pytest.raises(ValueError, match="padding_idx=4"):
        Seq2Seq(encoder, BahdanauDecoder(VOCAB, EMBED, 3, 6, dtype=np.float32, rng=0), BOS, EOS, 4)


@pytest.mark.parametrize("length_penalty, error", [
    (np.nan, ValueError), (np.inf, ValueError), (-np.inf, ValueError), (-0.5, ValueError), (np.float32(np.nan),
    ValueError), (True, TypeError), ("1", TypeError), (None, TypeError)])
def test_beam_search_refuses_a_length_penalty_that_is_not_a_finite_number_at_least_zero(length_penalty, error):
    model = make_model("bahdanau")
    source = np.array([[3, 4, 0]])
    mask = source != PAD
    with pytest.raises(error) as caught:
        model.beam_search(source, mask, beam_size=2, max_length=3, length_penalty=length_penalty)
    assert type(caught.value) is error
    message = str(caught.value)
    assert message.startswith("Seq2Seq.beam_search: length_penalty must be a ")
    assert f"got length_penalty={length_penalty!r}" in message
    states, final = model.encoder(source, mask)
    with pytest.raises(error, match="^beam_search: length_penalty must be a "):
        beam_search(model.decoder, states, final, mask, BOS, EOS, PAD, 2, 3, length_penalty)


def test_beam_search_takes_any_finite_length_penalty_at_least_zero():
    model = make_model("bahdanau")
    source = np.array([[3, 4, 0]])
    for length_penalty in (0, 0.0, 0.5, 1, 2.0, np.float32(1.5), np.int64(1)):
        ids, _ = model.beam_search(source, source != PAD, beam_size=2, max_length=3, length_penalty=length_penalty)
        assert ids.shape[0] == 1


@pytest.mark.parametrize("arguments, error", [
    ({"beam_size": 0}, ValueError), ({"beam_size": -2}, ValueError), ({"beam_size": 2.0}, TypeError),
    ({"beam_size": True}, TypeError), ({"max_length": 0}, ValueError), ({"max_length": 3.0}, TypeError),
    ({"max_length": None}, TypeError), ({"max_length": np.bool_(True)}, TypeError)],
    ids=lambda case: ",".join(f"{name}={value!r}" for name, value in case.items()) if isinstance(case, dict) else
    case.__name__)
def test_greedy_and_beam_search_refuse_counts_that_are_not_positive_integers(arguments, error):
    model = make_model("luong-general-global")
    source = np.array([[3, 4, 0]])
    mask = source != PAD
    (name, value), = arguments.items()
    searches = [("Seq2Seq.beam_search", lambda: model.beam_search(source, mask, **{"beam_size": 2, "max_length": 3,
                                                                                  **arguments}))]
    if name == "max_length":
        searches.append(("Seq2Seq.greedy", lambda: model.greedy(source, mask, value)))
    for op, search in searches:
        with pytest.raises(error) as caught:
            search()
        assert type(caught.value) is error
        assert str(caught.value).startswith(f"{op}: {name} must be an integer")
        assert f"got {name}={value!r}" in str(caught.value)


def test_greedy_and_beam_search_take_numpy_integer_counts():
    model = make_model("bahdanau")
    source = np.array([[3, 4, 0]])
    greedy_ids, _ = model.greedy(source, source != PAD, np.int64(3))
    beam_ids, _ = model.beam_search(source, source != PAD, beam_size=np.int32(1), max_length=np.uint8(3))
    np.testing.assert_array_equal(beam_ids, greedy_ids)


SIZED = {  # (class, the other arguments, the sizes to try one at a time)
    "Seq2SeqEncoder": (Seq2SeqEncoder, {"vocab_size": VOCAB, "embed_size": EMBED, "hidden_size": HIDDEN}, {}),
    "PlainDecoder": (PlainDecoder, {"vocab_size": VOCAB, "embed_size": EMBED, "hidden_size": HIDDEN,
                                    "encoder_size": 6}, {}),
    "BahdanauDecoder": (BahdanauDecoder, {"vocab_size": VOCAB, "embed_size": EMBED, "hidden_size": HIDDEN,
                                          "encoder_size": 6}, {"attention_size": 2}),
    "LuongDecoder": (LuongDecoder, {"vocab_size": VOCAB, "embed_size": EMBED, "hidden_size": HIDDEN,
                                    "encoder_size": 6, "score": "location", "attention": "local-p"},
                     {"attention_size": 2, "max_source_length": 4}),
}
SIZE_CASES = [(kind, name) for kind, (_, required, optional) in SIZED.items()
              for name in [*(key for key in required if key.endswith("_size")), *optional]]


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1, ValueError), (3.0, TypeError), (True, TypeError),
                                          ("3", TypeError)])
@pytest.mark.parametrize("kind, name", SIZE_CASES, ids=[f"{kind}-{name}" for kind, name in SIZE_CASES])
def test_constructors_refuse_sizes_that_are_not_positive_integers_naming_the_argument(kind, name, value, error):
    cls, required, optional = SIZED[kind]
    with pytest.raises(error) as caught:
        cls(**{**required, **optional, name: value})
    assert type(caught.value) is error  # not a ZeroDivisionError or "math domain error" from an initialiser
    assert str(caught.value).startswith(f"{kind}: {name} must be an integer")
    assert f"got {name}={value!r}" in str(caught.value)


@pytest.mark.parametrize("kind", list(SIZED))
def test_constructors_take_numpy_integer_sizes_and_none_for_optional_ones(kind):
    cls, required, optional = SIZED[kind]
    cls(**{name: np.int64(value) if isinstance(value, int) else value for name, value in required.items()},
        **{name: np.int32(value) for name, value in optional.items()})
    if kind == "LuongDecoder":
        LuongDecoder(VOCAB, EMBED, HIDDEN, 6, attention_size=None, max_source_length=None)
    elif optional:
        cls(**required, **{name: None for name in optional})


@pytest.mark.parametrize("window, error", [(-1, ValueError), (1.0, TypeError), (True, TypeError)])
def test_luong_decoder_refuses_a_window_that_is_not_an_integer_at_least_zero(window, error):
    with pytest.raises(error, match=rf"^LuongDecoder: window must be an integer.*; got window={window!r}"):
        LuongDecoder(VOCAB, EMBED, HIDDEN, 6, attention="local-m", window=window)
    LuongDecoder(VOCAB, EMBED, HIDDEN, 6, attention="local-m", window=np.int64(0))  # D = 0: the centre alone


def test_location_score_rejects_sources_longer_than_max_source_length():
    model = make_model("luong-location-global", max_source_length=3)
    source = np.array([[3, 4, 3, 4]])
    with pytest.raises(ShapeError, match="max_length=3"):
        model.loss(source, source != PAD, np.array([[EOS]]))
