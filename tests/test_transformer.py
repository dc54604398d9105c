"""Transformer layers and the causal language model: gradients, the post-norm formula in NumPy, padding and causality
that must not leak, dtypes, the KV cache (same logits, same tokens as recomputing the prefix), sampling and bad
input."""
import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F
from tinyattn.attention.language_model import CausalTransformerLM, _sample
from tinyattn.attention.transformer import (
    KeyValueCache,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from tinyattn.errors import DTypeError, ShapeError

D_MODEL, HEADS, FEEDFORWARD, LENGTH, BATCH = 4, 2, 6, 3, 2


def _encoder_layer(norm_first=False, seed=0, dtype=np.float64, activation="relu"):
    return TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, norm_first=norm_first, activation=activation,
                                   dtype=dtype, rng=seed)


def _inputs(seed=1, shape=(BATCH, LENGTH, D_MODEL)):
    return np.random.default_rng(seed).standard_normal(shape)


def _lm(positions="learned", norm_first=True, dtype=np.float64, vocab=7, max_length=10, dropout=0.0, seed=0):
    return CausalTransformerLM(vocab, 8, 2, 2, 12, max_length, dropout=dropout, positions=positions,
                               norm_first=norm_first, dtype=dtype, rng=seed)


# ----- gradients -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("masking", ["key_mask", "causal"])
def test_encoder_layer_gradients_match_finite_differences_for_input_and_every_parameter(norm_first, masking):
    layer = _encoder_layer(norm_first, activation="gelu" if norm_first else "relu")
    x = ta.tensor(_inputs(), requires_grad=True)
    key_mask = np.array([[True, True, True], [True, True, False]]) if masking == "key_mask" else None
    parameters = list(layer.parameters())
    assert len(parameters) == 16  # 4 projections, 2 feed-forward Linears, 2 LayerNorms: weight and bias each

    def encode(*_):
        return layer(x, key_mask=key_mask, is_causal=masking == "causal")

    assert ta.gradcheck(encode, x, *parameters, seed=7)


def test_lm_loss_gradients_match_finite_differences():
    model = _lm(vocab=5, max_length=6)
    ids = np.array([[1, 4, 0, 2, 3], [2, 2, 1, 0, 4]])
    checked = [model.output.weight, model.layers[0].self_attn.key_proj.weight, model.positions.weight,
               model.layers[1].feedforward_norm.bias]

    def loss(*_):
        return F.cross_entropy(model(ids)[:, :-1], ids[:, 1:])

    assert ta.gradcheck(loss, *checked, seed=3)


# ----- the formula ---------------------------------------------------------------------------------------------------
def _numpy_layer_norm(x, norm):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred ** 2).mean(axis=-1, keepdims=True) + norm.eps) * norm.weight.data + \
        norm.bias.data


def _numpy_linear(x, linear):
    return x @ linear.weight.data + linear.bias.data


def _numpy_self_attention(x, attention):
    """Multi-head self-attention, head by head, from the layer's own weights; no masks."""
    queries, keys, values = (_numpy_linear(x, projection) for projection in
                             (attention.query_proj, attention.key_proj, attention.value_proj))
    size = attention.head_dim
    contexts = []
    for head in range(attention.num_heads):
        part = slice(head * size, (head + 1) * size)
        scores = queries[..., part] @ np.swapaxes(keys[..., part], -1, -2) / np.sqrt(size)  # (B, T, T)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        contexts.append(weights @ values[..., part])
    return _numpy_linear(np.concatenate(contexts, axis=-1), attention.out_proj)


def test_post_norm_layer_equals_its_formula_written_in_numpy():
    layer = _encoder_layer(norm_first=False)
    x = _inputs(shape=(3, 5, D_MODEL))
    attended = _numpy_layer_norm(x + _numpy_self_attention(x, layer.self_attn), layer.attention_norm)
    hidden = np.maximum(_numpy_linear(attended, layer.feedforward.expand), 0.0)
    expected = _numpy_layer_norm(attended + _numpy_linear(hidden, layer.feedforward.contract), layer.feedforward_norm)
    np.testing.assert_allclose(layer(x).data, expected, rtol=0, atol=1e-12)


# ----- the stack -----------------------------------------------------------------------------------------------------
def test_encoder_layers_made_by_a_factory_have_distinct_parameters():
    encoder = TransformerEncoder(lambda: _encoder_layer(), num_layers=3, final_norm=True)
    ids = [id(parameter) for layer in encoder.layers for parameter in layer.parameters()]
    assert len(encoder.layers) == 3 and len(set(ids)) == len(ids) == 3 * 16
    assert len(list(encoder.parameters())) == 3 * 16 + 2


def test_encoder_refuses_a_layer_given_twice_or_alone():
    layer = _encoder_layer()
    with pytest.raises(ValueError, match="TransformerEncoder: layers 0 and 1 share the parameter"):
        TransformerEncoder([layer, layer])
    with pytest.raises(TypeError, match="TransformerEncoder: layers must be a factory"):
        TransformerEncoder(layer, num_layers=2)


def test_encoder_returns_every_layers_per_head_weights_and_equals_its_layers_in_turn():
    layers = [_encoder_layer(norm_first=True, seed=seed) for seed in range(2)]
    encoder = TransformerEncoder(layers, final_norm=True)
    x = _inputs()
    output, weights = encoder(x, need_weights=True)
    assert weights.shape == (2, BATCH, HEADS, LENGTH, LENGTH)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, atol=1e-12)
    expected = encoder.final_norm(layers[1](layers[0](x))).data  # without weights: the fused kernel's path
    np.testing.assert_allclose(output.data, expected, rtol=0, atol=1e-12)


def test_dropout_acts_in_training_mode_only():
    layer = TransformerEncoderLayer(D_MODEL, HEADS, FEEDFORWARD, dropout=0.5, dtype=np.float64, rng=0)
    plain = _encoder_layer(seed=0)
    x = _inputs()
    assert not np.allclose(layer(x).data, plain(x).data)
    np.testing.assert_array_equal(layer.eval()(x).data, plain(x).data)  # same draws for the weights, no dropout


# ----- masks ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_nan_in_padded_positions_does_not_change_real_outputs(norm_first):
    encoder = TransformerEncoder(lambda: _encoder_layer(norm_first), num_layers=2)
    x = _inputs(shape=(2, 4, D_MODEL))
    key_mask = np.array([[True, True, True, True], [True, True, False, False]])
    clean = encoder(x, key_mask=key_mask).data
    poisoned = x.copy()
    poisoned[1, 2:] = np.nan
    output = encoder(poisoned, key_mask=key_mask).data
    np.testing.assert_array_equal(output[key_mask], clean[key_mask])
    assert np.isfinite(output[key_mask]).all()


def test_causal_output_at_each_position_ignores_later_inputs():
    encoder = TransformerEncoder(lambda: _encoder_layer(), num_layers=2)
    x = _inputs(shape=(2, 5, D_MODEL))
    before = encoder(x, is_causal=True).data
    for position in range(4):
        changed = x.copy()
        changed[:, position + 1:] = _inputs(seed=position + 10, shape=changed[:, position + 1:].shape)
        after = encoder(changed, is_causal=True).data
        np.testing.assert_array_equal(after[:, :position + 1], before[:, :position + 1])
        assert not np.allclose(after[:, position + 1:], before[:, position + 1:])


def test_float32_stays_float32():
    layer = _encoder_layer(dtype=np.float32)
    output, weights = layer(_inputs().astype(np.float32), need_weights=True)
    assert output.dtype == np.float32 and weights.dtype == np.float32
    model = _lm(dtype=np.float32)
    assert model(np.array([[1, 2, 3]])).dtype == np.float32


# ----- the language model and its cache ------------------------------------------------------------------------------
@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
@pytest.mark.parametrize("norm_first", [True, False], ids=["pre_norm", "post_norm"])
def test_cached_logits_equal_the_full_forward_at_every_position(positions, norm_first):
    model = _lm(positions, norm_first)
    ids = np.random.default_rng(2).integers(0, 7, size=(3, 9))
    full = model(ids).data  # (B, T, V)
    cache = model.new_cache()
    prefix = model(ids[:, :4], cache).data  # several positions at once, then one at a time
    steps = [model(ids[:, position:position + 1], cache).data[:, 0] for position in range(4, 9)]
    np.testing.assert_allclose(prefix, full[:, :4], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.stack(steps, axis=1), full[:, 4:], rtol=0, atol=1e-12)
    assert all(layer_cache.length == 9 for layer_cache in cache)


@pytest.mark.parametrize("greedy", [True, False], ids=["greedy", "sampled"])
def test_cached_and_uncached_generation_give_identical_tokens(greedy):
    model = _lm(positions="sinusoidal")
    prompt = np.array([[1, 2], [5, 0]])
    cached = model.generate(prompt, 8, greedy=greedy, temperature=1.5, rng=4)
    uncached = model.generate(prompt, 8, greedy=greedy, temperature=1.5, rng=4, use_cache=False)
    np.testing.assert_array_equal(cached, uncached)
    assert cached.shape == (2, 10) and (cached[:, :2] == prompt).all()


def test_generation_continues_the_argmax_of_the_full_forward():
    model = _lm()
    tokens = model.generate(np.array([[3]]), 5)
    np.testing.assert_array_equal(model(tokens[:, :-1]).data.argmax(axis=-1)[0], tokens[0, 1:])


def test_seeded_sampling_repeats_and_other_seeds_differ():
    model = _lm(vocab=50)
    prompt = np.array([[1, 2, 3]])
    first = model.generate(prompt, 6, greedy=False, rng=np.random.default_rng(11))
    again = model.generate(prompt, 6, greedy=False, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(first, again)
    others = {tuple(model.generate(prompt, 6, greedy=False, rng=seed)[0]) for seed in range(5)}
    assert len(others) > 1  # 5 draws of 6 tokens among 50 all equal: practically impossible


def test_sampled_tokens_follow_the_softmax_of_the_logits():
    logits = np.array([2.0, 0.0, -1.0, 1.0, -30.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    draws = 20000
    counts = np.bincount(_sample(np.tile(logits, (draws, 1)), np.random.default_rng(0)), minlength=5)
    frequency = counts / draws
    standard_error = np.maximum(np.sqrt(expected * (1 - expected) / draws), 1e-4)
    # |z| > 5 for one of 5 classes: a false failure about once in 3e6 runs (the seed is fixed anyway).
    assert np.abs((frequency - expected) / standard_error).max() < 5


def test_sampling_at_a_tiny_temperature_is_greedy():
    model = _lm()
    prompt = np.array([[1, 2, 3], [0, 6, 6]])
    np.testing.assert_array_equal(model.generate(prompt, 5, greedy=False, temperature=1e-6, rng=0),
                                  model.generate(prompt, 5))


def test_generation_runs_without_dropout_or_a_graph_and_restores_training_mode():
    model = _lm(dropout=0.5)
    model.layers[0].train(False)  # a mixed state, to be restored as it was
    prompt = np.array([[1, 2, 3]])
    assert (model.generate(prompt, 4) == model.generate(prompt, 4, use_cache=False)).all()
    assert model.training and model.embedding_dropout.training and not model.layers[0].training
    assert all(parameter.grad is None for parameter in model.parameters())


def test_decoder_layer_alone_is_causal():
    layer = TransformerDecoderLayer(D_MODEL, HEADS, FEEDFORWARD, dtype=np.float64, rng=0)
    x = _inputs(shape=(2, 4, D_MODEL))
    changed = x.copy()
    changed[:, 3] += 1.0
    output, weights = layer(x, need_weights=True)
    np.testing.assert_array_equal(layer(changed, need_weights=True)[0].data[:, :3], output.data[:, :3])
    np.testing.assert_array_equal(layer(changed).data[:, :3], layer(x).data[:, :3])  # the fused path (no weights)
    assert weights.shape == (2, HEADS, 4, 4) and (np.triu(weights.data[0, 0], k=1) == 0).all()


def _memory_layer(norm_first=True):
    return TransformerDecoderLayer(D_MODEL, HEADS, FEEDFORWARD, norm_first=norm_first, memory_dim=3,
                                   dtype=np.float64, rng=5)


@pytest.mark.parametrize("norm_first", [True, False], ids=["pre_norm", "post_norm"])
def test_decoder_layer_with_memory_gradients_match_finite_differences(norm_first):
    layer = _memory_layer(norm_first)
    x = ta.tensor(_inputs(), requires_grad=True)
    memory = ta.tensor(_inputs(seed=2, shape=(BATCH, 2, 3)), requires_grad=True)
    memory_key_mask = np.array([[True, True], [True, False]])
    assert len(list(layer.parameters())) == 16 + 10

    def decode(*_):
        return layer(x, memory=memory, memory_key_mask=memory_key_mask)

    assert ta.gradcheck(decode, x, memory, *layer.parameters(), seed=5)


def test_decoder_layer_with_memory_cached_equals_full_and_padded_memory_cannot_leak():
    layer = _memory_layer()
    x = _inputs(shape=(2, 4, D_MODEL))
    memory = _inputs(seed=3, shape=(2, 3, 3))
    memory_key_mask = np.array([[True, True, True], [True, True, False]])
    full, weights, memory_weights = layer(x, memory=memory, memory_key_mask=memory_key_mask, need_weights=True)
    assert weights.shape == (2, HEADS, 4, 4) and memory_weights.shape == (2, HEADS, 4, 3)
    assert (memory_weights.data[1, :, :, 2] == 0).all()
    memory[1, 2] = np.nan
    cache = KeyValueCache()
    steps = [layer(x[:, position:position + 1], cache, memory=memory, memory_key_mask=memory_key_mask).data
             for position in range(4)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full.data, rtol=0, atol=1e-12)


def test_decoder_layer_memory_is_needed_exactly_when_made_for_one():
    with pytest.raises(ValueError, match="TransformerDecoderLayer: this layer was made with memory_dim 3: pass a "
                                         r"memory; got x \(2, 3, 4\) float64"):
        _memory_layer()(_inputs())
    plain = TransformerDecoderLayer(D_MODEL, HEADS, FEEDFORWARD, dtype=np.float64, rng=0)
    with pytest.raises(ValueError, match="made without memory_dim: pass no memory"):
        plain(_inputs(), memory=_inputs())


# ----- bad input -----------------------------------------------------------------------------------------------------
def test_ids_out_of_range_are_refused_naming_the_shapes():
    model = _lm()
    with pytest.raises(ShapeError, match=r"CausalTransformerLM: ids must lie in \[0, 7\).*ids \(1, 2\) int64"):
        model(np.array([[1, 7]]))
    with pytest.raises(DTypeError, match=r"ids must be integers.*ids \(1, 2\) float64"):
        model(np.array([[1.0, 2.0]]))


def test_sequences_longer_than_max_length_are_refused():
    model = _lm(max_length=5)
    with pytest.raises(ShapeError, match=r"positions 0 .. 5 go past max_length 5; got ids \(1, 6\) int64"):
        model(np.zeros((1, 6), np.int64))
    cache = model.new_cache()
    model(np.zeros((1, 4), np.int64), cache)
    with pytest.raises(ShapeError, match="positions 4 .. 5 go past max_length 5"):
        model(np.zeros((1, 2), np.int64), cache)
    with pytest.raises(ShapeError, match=r"generate: T \+ max_new_tokens - 1 = 6 positions go past max_length 5"):
        model.generate(np.zeros((1, 3), np.int64), 4)
    assert model.generate(np.zeros((1, 3), np.int64), 3).shape == (1, 6)


def test_layer_input_of_wrong_size_or_dtype_is_refused():
    layer = _encoder_layer()
    with pytest.raises(ShapeError, match=r"TransformerEncoderLayer: expected x \(B, T, D\).*got x \(2, 3, 5\) "
                                         r"float64"):
        layer(np.zeros((2, 3, 5)))
    with pytest.raises(DTypeError, match=r"parameters' dtype float64.*got x \(2, 3, 4\) float32"):
        layer(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="TransformerEncoderLayer: dropout must be a number in"):
        TransformerEncoderLayer(4, 2, 6, dropout=1.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        TransformerEncoderLayer(4, 2, 6, activation="swish")
