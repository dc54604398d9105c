"""GRUCell, LSTMCell, GRU and LSTM: torch's gate equations, gradients, padding, directions, layouts, errors.

The forward is checked against torch's documented equations written out gate by gate in NumPy below (the suite does
not import torch); every gradient against central differences (float64, small sizes drawn by Hypothesis). The
primitives themselves (gru_cell, gru_sequence, lstm_cell, lstm_sequence) are in the table of test_op_gradients.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
import tinyattn.nn as nn
from tinyattn import DTypeError, ShapeError

LAYER_GRADIENT_EXAMPLES = 50
CELL_GRADIENT_EXAMPLES = 50
PROPERTY_EXAMPLES = 30


# ----- torch's equations, gate by gate (weights laid out (in, out), gates side by side in torch's order) ----------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gru_step_reference(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh):
    """r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h."""
    w_ir, w_iz, w_in = np.split(weight_ih, 3, axis=1)
    w_hr, w_hz, w_hn = np.split(weight_hh, 3, axis=1)
    b_ir, b_iz, b_in = np.split(bias_ih, 3)
    b_hr, b_hz, b_hn = np.split(bias_hh, 3)
    reset = sigmoid(x @ w_ir + b_ir + hidden @ w_hr + b_hr)
    update = sigmoid(x @ w_iz + b_iz + hidden @ w_hz + b_hz)
    candidate = np.tanh(x @ w_in + b_in + reset * (hidden @ w_hn + b_hn))
    return (1 - update) * candidate + update * hidden


def lstm_step_reference(x, hidden, cell, weight_ih, weight_hh, bias_ih, bias_hh):
    """i, f, o = σ(W_i. x + b_i. + W_h. h + b_h.), g = tanh(...), c' = f * c + i * g, h' = o * tanh(c')."""
    gates = zip(np.split(weight_ih, 4, axis=1), np.split(weight_hh, 4, axis=1), np.split(bias_ih, 4),
                np.split(bias_hh, 4), strict=True)
    pre = [x @ wi + bi + hidden @ wh + bh for wi, wh, bi, bh in gates]
    input_gate, forget, candidate, output = sigmoid(pre[0]), sigmoid(pre[1]), np.tanh(pre[2]), sigmoid(pre[3])
    new_cell = forget * cell + input_gate * candidate
    return output * np.tanh(new_cell), new_cell


def layer_reference(model, x, lengths, state):
    """The model's output (T, B, D*H) and final states, one sequence at a time over its first lengths[b] steps,
    each direction a plain loop of the reference steps. x (T, B, I) time-major; state: a list of (D*L, B, H)."""
    steps, batch = x.shape[:2]
    size, directions = model.hidden_size, model.directions
    output = np.zeros((steps, batch, directions * size))
    finals = [np.array(part, dtype=float) for part in state]
    for b in range(batch):
        layer_input = x[:lengths[b], b]  # (length, I)
        for layer in range(model.num_layers):
            outputs = []
            for direction, suffix in enumerate(model._suffixes(layer)):
                weights = [getattr(model, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                weights = [np.zeros(weights[0].shape[1]) if w is None else w.data for w in weights]
                index = layer * directions + direction
                current = [part[index, b:b + 1].copy() for part in finals]
                order = range(lengths[b] - 1, -1, -1) if direction else range(lengths[b])
                out = np.zeros((lengths[b], size))
                for t in order:
                    step = gru_step_reference if model.gate_count == 3 else lstm_step_reference
                    result = step(layer_input[t:t + 1], *current, *weights)
                    current = [result] if model.gate_count == 3 else list(result)
                    out[t] = current[0][0]
                for part, value in zip(finals, current, strict=True):
                    part[index, b] = value[0]
                outputs.append(out)
            layer_input = np.concatenate(outputs, axis=1)
        output[:lengths[b], b] = layer_input
    return output, finals


# ----- helpers ------------------------------------------------------------------------------------------------------
def make_model(config, dtype=np.float64, seed=0):
    layer = getattr(nn, config.kind)
    return layer(config.input_size, config.hidden_size, num_layers=config.num_layers, bias=config.bias,
                 batch_first=config.batch_first, bidirectional=config.bidirectional, dtype=dtype, rng=seed)


def state_count(model):
    return 1 if model.gate_count == 3 else 2


def run(model, x, state=None, **padding):
    """(output, [h_n] or [h_n, c_n]) for a GRU or an LSTM; `state` a list of initial state parts or None."""
    if model.gate_count == 3:
        output, h_n = model(x, None if state is None else state[0], **padding)
        return output, [h_n]
    output, (h_n, c_n) = model(x, None if state is None else tuple(state), **padding)
    return output, [h_n, c_n]


def padding_arguments(config):
    lengths = np.array(config.lengths)
    if config.padding == "lengths":
        return {"lengths": lengths}
    if config.padding == "mask":
        return {"mask": np.arange(config.steps)[None, :] < lengths[:, None]}  # (B, T), True = a real step
    return {}


def draw_inputs(data, config):
    """x in the model's layout and the initial state parts (or None), float64."""
    shape = (config.batch, config.steps) if config.batch_first else (config.steps, config.batch)
    x = data.draw(S.arrays(shape + (config.input_size,), -2.0, 2.0), label="x")
    state = None
    if config.initial_state:
        state_shape = (config.directions * config.num_layers, config.batch, config.hidden_size)
        parts = 1 if config.kind == "GRU" else 2
        state = [data.draw(S.arrays(state_shape, -1.0, 1.0), label=f"state {i}") for i in range(parts)]
    return x, state


def flat_results(output, finals):
    """Output and final states in one vector, so that one gradcheck covers them all."""
    return F.concatenate([output.reshape(-1)] + [part.reshape(-1) for part in finals])


def time_major(x, batch_first):
    return np.swapaxes(x, 0, 1) if batch_first else x


# ----- torch's equations ----------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["gru", "lstm"]))
def test_cells_follow_torchs_gate_equations_and_gate_order(data, kind):
    inputs = data.draw(S.recurrent_cell_inputs(kind), label="inputs").arrays
    x, state, weights = inputs[0], inputs[1:-4], inputs[-4:]
    cell = (nn.GRUCell if kind == "gru" else nn.LSTMCell)(x.shape[1], state[0].shape[1], dtype=np.float64)
    for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights, strict=True):
        getattr(cell, name).data[...] = value
    if kind == "gru":
        np.testing.assert_allclose(cell(x, state[0]).data, gru_step_reference(x, *state, *weights), atol=1e-12)
    else:
        hidden, new_cell = cell(x, tuple(state))
        expected_hidden, expected_cell = lstm_step_reference(x, *state, *weights)
        np.testing.assert_allclose(hidden.data, expected_hidden, atol=1e-12)
        np.testing.assert_allclose(new_cell.data, expected_cell, atol=1e-12)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs())
def test_layers_equal_torchs_equations_run_one_sequence_at_a_time(data, config):
    model = make_model(config)
    x, state = draw_inputs(data, config)
    output, finals = run(model, x, state, **padding_arguments(config))
    shape = (config.directions * config.num_layers, config.batch, config.hidden_size)
    initial = state or [np.zeros(shape)] * state_count(model)
    expected_output, expected_finals = layer_reference(
        model, time_major(x, config.batch_first), config.lengths, initial)
    np.testing.assert_allclose(time_major(output.data, config.batch_first), expected_output, atol=1e-12)
    for got, expected in zip(finals, expected_finals, strict=True):
        np.testing.assert_allclose(got.data, expected, atol=1e-12)


def test_hidden_state_defaults_to_zeros():
    cell = nn.GRUCell(3, 2, dtype=np.float64, rng=0)
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    np.testing.assert_array_equal(cell(x).data, cell(x, np.zeros((2, 2))).data)
    lstm = nn.LSTM(3, 2, num_layers=2, dtype=np.float64, rng=0)
    sequence = np.linspace(-1, 1, 18).reshape(3, 2, 3)
    zeros = np.zeros((2, 2, 2))
    np.testing.assert_array_equal(lstm(sequence)[0].data, lstm(sequence, (zeros, zeros))[0].data)


# ----- gradients ------------------------------------------------------------------------------------------------
@settings(max_examples=CELL_GRADIENT_EXAMPLES, deadline=None)
@given(data=st.data(), kind=st.sampled_from(["gru", "lstm"]), bias=st.booleans())
def test_cell_gradients_wrt_input_state_and_every_parameter_match_central_differences(data, kind, bias):
    inputs = data.draw(S.recurrent_cell_inputs(kind), label="inputs").arrays
    x, state = ta.tensor(inputs[0], requires_grad=True), [ta.tensor(s, requires_grad=True) for s in inputs[1:-4]]
    layer = nn.GRUCell if kind == "gru" else nn.LSTMCell
    cell = layer(x.shape[1], state[0].shape[1], bias=bias, dtype=np.float64, rng=data.draw(st.integers(0, 9)))

    def step(x, *rest):
        if kind == "gru":
            return cell(x, rest[0])
        return F.stack(cell(x, (rest[0], rest[1])))

    upstream = data.draw(S.upstream_gradients(step(x, *state).shape), label="upstream")
    assert ta.gradcheck(step, x, *state, *cell.parameters(), grad_output=upstream)


@settings(max_examples=LAYER_GRADIENT_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs())
def test_layer_gradients_wrt_input_initial_state_and_every_parameter_match_central_differences(data, config):
    model = make_model(config, seed=data.draw(st.integers(0, 9), label="seed"))
    x, state = draw_inputs(data, config)
    x = ta.tensor(x, requires_grad=True)
    state = None if state is None else [ta.tensor(part, requires_grad=True) for part in state]
    padding = padding_arguments(config)

    def forward(*_):  # gradcheck perturbs the tensors in place; the model reads them itself
        return flat_results(*run(model, x, state, **padding))

    upstream = data.draw(S.upstream_gradients(forward().shape), label="upstream")
    assert ta.gradcheck(forward, x, *(state or []), *model.parameters(), grad_output=upstream)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
def test_float32_layers_keep_float32_forward_and_backward(kind):
    model = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, rng=0)
    x = ta.tensor(np.linspace(-1, 1, 5 * 2 * 3).reshape(5, 2, 3), dtype=np.float32, requires_grad=True)
    output, finals = run(model, x, lengths=np.array([5, 3]))
    assert output.dtype == np.float32 and all(part.dtype == np.float32 for part in finals)
    flat_results(output, finals).sum().backward()
    assert x.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in model.parameters())


@pytest.mark.parametrize("layer", [nn.GRUCell, nn.LSTMCell])
def test_float32_cells_keep_float32_forward_and_backward(layer):
    cell = layer(3, 4, rng=0)
    x = ta.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=np.float32, requires_grad=True)
    result = cell(x)
    result = F.stack(result) if isinstance(result, tuple) else result
    assert result.dtype == np.float32
    result.sum().backward()
    assert x.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in cell.parameters())


# ----- padding ---------------------------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs(max_steps=5))
def test_padded_steps_give_exactly_zero_outputs_and_zero_input_gradients(data, config):
    model = make_model(config)
    x, state = draw_inputs(data, config)
    x = ta.tensor(x, requires_grad=True)
    output, _ = run(model, x, state, lengths=np.array(config.lengths))
    padded = np.arange(config.steps)[None, :] >= np.array(config.lengths)[:, None]  # (B, T)
    padded = padded if config.batch_first else padded.T
    assert np.all(output.data[padded] == 0)
    upstream = data.draw(S.upstream_gradients(output.shape), label="upstream")
    output.backward(upstream)
    assert np.all(x.grad[padded] == 0)


@pytest.mark.parametrize("kind", ["GRU", "LSTM"])
@pytest.mark.parametrize("filler", [np.nan, np.inf, -1e30], ids=["nan", "inf", "huge"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whatever_fills_the_padding_changes_no_output_and_no_gradient(kind, filler, dtype):
    # W_ih's gradient sums x^T times the gates' gradient over every step, padded ones included: 0 * NaN would leak.
    model = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, rng=0, dtype=dtype)
    lengths = np.array([5, 3, 0])
    clean = np.random.default_rng(1).normal(size=(5, 3, 3)).astype(dtype)
    clean[3:, 1], clean[:, 2] = 0, 0
    upstream = np.random.default_rng(2).normal(size=(5, 3, 8)).astype(dtype)
    results = []
    for x in (clean, np.where(clean == 0, dtype(filler), clean)):
        model.zero_grad()
        x = ta.tensor(x, requires_grad=True)
        output, finals = run(model, x, lengths=lengths)
        output.backward(upstream)
        results.append([output.data, *(part.data for part in finals), x.grad] + [p.grad for p in model.parameters()])
    assert np.isfinite(np.concatenate([part.ravel() for part in results[1]])).all()
    for got, expected in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs(max_steps=5))
def test_padded_batch_equals_each_sequence_run_alone_in_outputs_final_states_and_gradients(data, config):
    """Both directions: the backward direction must start at each sequence's own last real step."""
    model = make_model(config)
    x, state = draw_inputs(data, config)
    x_major = time_major(x, config.batch_first)
    batch_x = ta.tensor(x_major, requires_grad=True)
    model.batch_first = False
    output, finals = run(model, batch_x, None if state is None else [ta.tensor(part) for part in state],
                         lengths=np.array(config.lengths))
    upstream = data.draw(S.upstream_gradients(output.shape), label="upstream")
    output.backward(upstream)
    batch_grads = [parameter.grad.copy() for parameter in model.parameters()]
    summed_grads = [np.zeros_like(grad) for grad in batch_grads]
    for b, length in enumerate(config.lengths):
        alone_state = None if state is None else [part[:, b:b + 1] for part in state]
        if length == 0:  # nothing to run: zero outputs, the initial state as final state
            assert np.all(output.data[:, b] == 0)
            zeros = [np.zeros_like(part.data[:, b:b + 1]) for part in finals]
            for part, initial in zip(finals, alone_state or zeros, strict=True):
                np.testing.assert_array_equal(part.data[:, b:b + 1], initial)
            continue
        model.zero_grad()
        alone_x = ta.tensor(x_major[:length, b:b + 1], requires_grad=True)
        alone_output, alone_finals = run(model, alone_x, alone_state)
        alone_output.backward(upstream[:length, b:b + 1])
        np.testing.assert_allclose(output.data[:length, b:b + 1], alone_output.data, atol=1e-12)
        for part, alone in zip(finals, alone_finals, strict=True):
            np.testing.assert_allclose(part.data[:, b:b + 1], alone.data, atol=1e-12)
        np.testing.assert_allclose(batch_x.grad[:length, b:b + 1], alone_x.grad, atol=1e-12)
        for total, parameter in zip(summed_grads, model.parameters(), strict=True):
            total += parameter.grad
    for batch_grad, total in zip(batch_grads, summed_grads, strict=True):
        np.testing.assert_allclose(batch_grad, total, atol=1e-10)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs())
def test_mask_and_lengths_forms_agree(data, config):
    model = make_model(config)
    x, state = draw_inputs(data, config)
    lengths = np.array(config.lengths)
    mask = np.arange(config.steps)[None, :] < lengths[:, None]  # (B, T) whatever the layout of x
    by_lengths, by_mask = run(model, x, state, lengths=lengths), run(model, x, state, mask=mask)
    for got, expected in zip([by_mask[0]] + by_mask[1], [by_lengths[0]] + by_lengths[1], strict=True):
        np.testing.assert_array_equal(got.data, expected.data)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs(max_steps=5))
def test_a_mask_with_holes_runs_each_sequence_on_its_real_steps_alone(data, config):
    model = make_model(config)
    x, state = draw_inputs(data, config)
    mask = data.draw(S.masks((config.batch, config.steps)), label="mask")  # (B, T), any pattern
    output, finals = run(model, x, state, mask=mask)
    x_major, output_major = time_major(x, config.batch_first), time_major(output.data, config.batch_first)
    model.batch_first = False
    for b in range(config.batch):
        real = np.flatnonzero(mask[b])
        alone_state = None if state is None else [part[:, b:b + 1] for part in state]
        assert np.all(output_major[~mask[b], b] == 0)
        if real.size == 0:
            continue
        alone_output, alone_finals = run(model, x_major[real, b:b + 1], alone_state)
        np.testing.assert_allclose(output_major[real, b:b + 1], alone_output.data, atol=1e-12)
        for part, alone in zip(finals, alone_finals, strict=True):
            np.testing.assert_allclose(part.data[:, b:b + 1], alone.data, atol=1e-12)


def test_full_lengths_and_an_all_true_mask_equal_no_padding():
    model = nn.GRU(2, 3, bidirectional=True, dtype=np.float64, rng=0)
    x = np.linspace(-1, 1, 4 * 2 * 2).reshape(4, 2, 2)
    plain = model(x)
    for padding in ({"lengths": np.array([4, 4])}, {"mask": np.ones((2, 4), bool)}):
        padded = model(x, **padding)
        np.testing.assert_array_equal(padded[0].data, plain[0].data)
        np.testing.assert_array_equal(padded[1].data, plain[1].data)


def test_a_sequence_of_length_zero_gives_zero_outputs_and_keeps_its_initial_state():
    model = nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=np.float64, rng=0)
    x = np.linspace(-1, 1, 3 * 2 * 2).reshape(3, 2, 2)
    h0, c0 = np.full((4, 2, 3), 0.5), np.full((4, 2, 3), -0.25)
    output, (h_n, c_n) = model(x, (h0, c0), lengths=np.array([0, 3]))
    assert np.all(output.data[:, 0] == 0)
    np.testing.assert_array_equal(h_n.data[:, 0], h0[:, 0])
    np.testing.assert_array_equal(c_n.data[:, 0], c0[:, 0])


# ----- directions and layouts ---------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs(max_layers=1))
def test_bidirectional_halves_equal_a_forward_layer_and_a_layer_on_the_reversed_input(data, config):
    model = make_model(config)
    x, _ = draw_inputs(data, config)
    x_major = time_major(x, config.batch_first)
    model.batch_first = False
    both, both_finals = run(model, x_major)
    size = config.hidden_size
    single = getattr(nn, config.kind)(config.input_size, size, bias=config.bias, dtype=np.float64)
    for direction, suffix in enumerate(model._suffixes(0)):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if getattr(model, name + suffix) is not None:
                getattr(single, name + "_l0").data[...] = getattr(model, name + suffix).data
        reversed_in = x_major[::-1] if direction else x_major
        output, finals = run(single, reversed_in)
        half = both.data[:, :, direction * size:(direction + 1) * size]
        np.testing.assert_allclose(half, output.data[::-1] if direction else output.data, atol=1e-12)
        for part, single_part in zip(both_finals, finals, strict=True):
            np.testing.assert_allclose(part.data[direction], single_part.data[0], atol=1e-12)
        if not config.bidirectional:
            break


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(data=st.data(), config=S.recurrent_configs())
def test_batch_first_equals_the_transposed_time_major_result(data, config):
    model = make_model(config)
    x, state = draw_inputs(data, config)
    padding = padding_arguments(config)
    x_major = time_major(x, config.batch_first)  # (T, B, I)
    model.batch_first = True
    first, first_finals = run(model, np.swapaxes(x_major, 0, 1), state, **padding)
    model.batch_first = False
    major, major_finals = run(model, x_major, state, **padding)
    np.testing.assert_array_equal(first.data, np.swapaxes(major.data, 0, 1))
    for a, b in zip(first_finals, major_finals, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_output_and_final_state_shapes_are_torchs():
    model = nn.LSTM(5, 3, num_layers=2, bidirectional=True, batch_first=True, rng=0)
    output, (h_n, c_n) = model(np.zeros((4, 7, 5), np.float32))
    assert output.shape == (4, 7, 6) and h_n.shape == (4, 4, 3) and c_n.shape == (4, 4, 3)
    output, h_n = nn.GRU(5, 3, rng=0)(np.zeros((7, 4, 5), np.float32))
    assert output.shape == (7, 4, 3) and h_n.shape == (1, 4, 3)


# ----- parameters -------------------------------------------------------------------------------------------------
def test_parameters_have_torchs_names_in_the_in_out_layout():
    model = nn.GRU(5, 3, num_layers=2, bidirectional=True, rng=0)
    shapes = {name: parameter.shape for name, parameter in model.named_parameters()}
    assert list(shapes)[:8] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse",
                                "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"]
    assert shapes["weight_ih_l0"] == (5, 9) and shapes["weight_hh_l0"] == (3, 9) and shapes["bias_ih_l0"] == (9,)
    assert shapes["weight_ih_l1"] == (6, 9)  # both directions of layer 0 feed layer 1
    assert [name for name, _ in nn.LSTMCell(5, 3, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]
    assert nn.LSTMCell(5, 3).weight_ih.shape == (5, 12)
    assert all(parameter.dtype == np.float32 for parameter in model.parameters())


@pytest.mark.parametrize("layer, gates", [(nn.GRU, 3), (nn.LSTM, 4), (nn.GRUCell, 3), (nn.LSTMCell, 4)])
def test_initialisation_is_orthogonal_per_gate_glorot_and_torchs_bias_bound(layer, gates):
    size, inputs = 8, 5
    model = layer(inputs, size, dtype=np.float64, rng=0)
    suffix = "_l0" if layer in (nn.GRU, nn.LSTM) else ""
    weight_hh, weight_ih = getattr(model, "weight_hh" + suffix).data, getattr(model, "weight_ih" + suffix).data
    for block in np.split(weight_hh, gates, axis=1):
        np.testing.assert_allclose(block.T @ block, np.eye(size), atol=1e-12)
    assert np.abs(weight_ih).max() <= np.sqrt(6 / (inputs + size))
    for name in ("bias_ih", "bias_hh"):
        assert np.abs(getattr(model, name + suffix).data).max() <= 1 / np.sqrt(size)
    again = layer(inputs, size, dtype=np.float64, rng=0)
    np.testing.assert_array_equal(getattr(again, "weight_hh" + suffix).data, weight_hh)


# ----- errors -------------------------------------------------------------------------------------------------------
def bad_calls():
    gru = nn.GRU(3, 2, num_layers=2, rng=0)
    lstm = nn.LSTM(3, 2, batch_first=True, rng=0)
    x = np.zeros((4, 2, 3), np.float32)  # (T, B, I)
    return [
        ("wrong input size", lambda: gru(np.zeros((4, 2, 5), np.float32)), ShapeError, ["GRU", "(4, 2, 5)", "3"]),
        ("wrong ndim", lambda: gru(np.zeros((4, 3), np.float32)), ShapeError, ["GRU", "(T, B, input_size)"]),
        ("integer input", lambda: gru(np.zeros((4, 2, 3), np.int64)), DTypeError, ["GRU", "int64"]),
        ("float64 input, float32 model", lambda: gru(x.astype(np.float64)), DTypeError, ["float64", "float32"]),
        ("wrong h0 shape", lambda: gru(x, np.zeros((1, 2, 2), np.float32)), ShapeError, ["h0", "(2, 2, 2)",
                                                                                         "(1, 2, 2)"]),
        ("lengths above T", lambda: gru(x, lengths=np.array([4, 5])), ShapeError, ["lengths", "[0, 4]", "5"]),
        ("negative lengths", lambda: gru(x, lengths=np.array([-1, 2])), ShapeError, ["lengths", "-1"]),
        ("lengths of the wrong size", lambda: gru(x, lengths=np.array([4])), ShapeError, ["lengths", "(2,)"]),
        ("float lengths", lambda: gru(x, lengths=np.array([4.0, 2.0])), DTypeError, ["lengths", "float64"]),
        ("mask of the wrong shape", lambda: gru(x, mask=np.ones((4, 2), bool)), ShapeError,
         ["mask", "(2, 4)", "(4, 2)"]),
        ("mask of the wrong dtype", lambda: gru(x, mask=np.ones((2, 4), np.int64)), DTypeError, ["mask", "int64"]),
        ("lengths and mask", lambda: gru(x, lengths=np.array([4, 4]), mask=np.ones((2, 4), bool)), ValueError,
         ["lengths or mask"]),
        ("lstm state not a pair", lambda: lstm(np.swapaxes(x, 0, 1), np.zeros((1, 2, 2), np.float32)), TypeError,
         ["LSTM", "pair"]),
        ("wrong c0 shape", lambda: lstm(np.swapaxes(x, 0, 1), (np.zeros((1, 2, 2), np.float32),
                                                               np.zeros((1, 4, 2), np.float32))),
         ShapeError, ["c0", "(1, 4, 2)"]),
        ("float64 h0, float32 model", lambda: gru(x, np.zeros((2, 2, 2))), DTypeError, ["h0", "float32", "float64"]),
        ("empty sequence", lambda: gru(np.zeros((0, 2, 3), np.float32)), ShapeError, ["GRU", "(0, 2, 3)"]),
        ("cell input size", lambda: nn.GRUCell(3, 2)(np.zeros((2, 4), np.float32)), ShapeError,
         ["GRUCell", "(2, 4)"]),
        ("cell hidden shape", lambda: nn.LSTMCell(3, 2)(np.zeros((2, 3), np.float32),
                                                        (np.zeros((2, 2), np.float32), np.zeros((3, 2), np.float32))),
         ShapeError, ["LSTMCell", "cell", "(3, 2)"]),
    ]


@pytest.mark.parametrize("case", bad_calls(), ids=lambda case: case[0])
def test_bad_input_raises_a_clear_error_naming_the_layer_shapes_and_dtypes(case):
    _, call, error, fragments = case
    with pytest.raises(error) as raised:
        call()
    for fragment in fragments:
        assert fragment in str(raised.value)


@pytest.mark.parametrize(
    "make, error, fragments",
    [
        (lambda: nn.GRU(4, 0), ValueError, ["GRU", "hidden_size", "integer >= 1", "0"]),
        (lambda: nn.LSTM(0, 3), ValueError, ["LSTM", "input_size", "0"]),
        (lambda: nn.GRU(4, -2), ValueError, ["GRU", "hidden_size", "-2"]),
        (lambda: nn.LSTM(4, 3, num_layers=0), ValueError, ["LSTM", "num_layers", "0"]),
        (lambda: nn.GRU(4, 3, num_layers=1.5), TypeError, ["GRU", "num_layers", "1.5", "float"]),
        (lambda: nn.LSTM(4.0, 3), TypeError, ["LSTM", "input_size", "4.0"]),
        (lambda: nn.GRU(4, True), TypeError, ["GRU", "hidden_size", "True", "bool"]),
        (lambda: nn.GRUCell(4, 0), ValueError, ["GRUCell", "hidden_size", "0"]),
        (lambda: nn.GRUCell(-1, 3), ValueError, ["GRUCell", "input_size", "-1"]),
        (lambda: nn.LSTMCell(4, 2.5), TypeError, ["LSTMCell", "hidden_size", "2.5"]),
        (lambda: nn.LSTMCell(None, 3), TypeError, ["LSTMCell", "input_size", "None"]),
    ],
)
def test_recurrent_constructors_refuse_sizes_that_are_not_positive_integers_naming_the_argument(make, error,
                                                                                             fragments):
    S.assert_error_names(error, make, fragments)


def test_recurrent_constructors_accept_numpy_integer_sizes():
    lstm = nn.LSTM(np.int64(3), np.int32(2), num_layers=np.int64(2), rng=0)
    cell = nn.GRUCell(np.int8(3), np.int64(2), rng=0)
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (3, 2, 2) and type(lstm.num_layers) is int
    assert lstm.weight_hh_l1.shape == (2, 8) and cell.weight_ih.shape == (3, 6)


def test_primitives_name_themselves_shapes_and_dtypes_on_bad_input():
    gates = np.zeros((3, 2, 6))
    with pytest.raises(ShapeError, match=r"gru_sequence: .*\(2, 3\)"):
        ta.ops.gru_sequence(gates, np.zeros((2, 3)), np.zeros((2, 6)), None)
    with pytest.raises(DTypeError, match=r"lstm_cell: .*float32.*float64"):
        ta.ops.lstm_cell(np.zeros((2, 3), np.float32), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((3, 8)),
                         np.zeros((2, 8)), None, None)
    with pytest.raises(DTypeError, match="mask must be boolean"):
        ta.ops.gru_sequence(gates, np.zeros((2, 2)), np.zeros((2, 6)), None, mask=np.ones((3, 2)))
