"""The bridge to PyTorch (Module.torch_state_dict / load_torch_state_dict), checked without torch.

tests/data/torch_layers.npz holds, for each layer the bridge maps, what torch 2.x computed in float64 (written by
bench/torch_fixture.py, which needs torch): its state dict, inputs, outputs and the gradients of sum(output *
cotangent). Loading torch's state into the tinyattn layer must reproduce the outputs and every gradient to 1e-10,
and torch_state_dict must give torch's state back exactly.
"""
import pathlib

import numpy as np
import pytest

import tinyattn as ta
import tinyattn.nn as nn
from tinyattn.attention import (
    MultiHeadAttention,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from tinyattn.errors import DTypeError, ShapeError

FIXTURE = pathlib.Path(__file__).parent / "data" / "torch_layers.npz"
F64 = np.float64


def encoder_layer(norm_first, activation="relu"):
    return TransformerEncoderLayer(8, 2, 16, norm_first=norm_first, activation=activation, dtype=F64)


# name: (the tinyattn twin of torch's module, how to call it: inputs as Tensors -> {output name: Tensor})
CASES = {
    "linear": (lambda: nn.Linear(5, 4, dtype=F64), lambda m, x: {"y": m(x)}),
    "embedding": (lambda: nn.Embedding(7, 4, padding_idx=0, dtype=F64), lambda m, ids: {"y": m(ids)}),
    "layer_norm": (lambda: nn.LayerNorm(6, dtype=F64), lambda m, x: {"y": m(x)}),
    "gru": (lambda: nn.GRU(4, 5, num_layers=2, bidirectional=True, dtype=F64),
            lambda m, x, h0: dict(zip(["output", "h_n"], m(x, h0), strict=True))),
    "lstm": (lambda: nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True, dtype=F64),
             lambda m, x, h0, c0: (lambda out: {"output": out[0], "h_n": out[1][0], "c_n": out[1][1]})(
                 m(x, (h0, c0)))),
    "gru_cell": (lambda: nn.GRUCell(4, 5, dtype=F64), lambda m, x, h: {"h_next": m(x, h)}),
    "lstm_cell": (lambda: nn.LSTMCell(4, 5, dtype=F64),
                  lambda m, x, h, c: dict(zip(["h_next", "c_next"], m(x, (h, c)), strict=True))),
    "mha_self": (lambda: MultiHeadAttention(8, 2, dtype=F64),
                 lambda m, x, key_mask: dict(zip(["output", "weights"], m(x, x, x, key_mask=key_mask), strict=True))),
    "mha_cross": (lambda: MultiHeadAttention(8, 2, kdim=3, vdim=5, dtype=F64),
                  lambda m, query, key, value, attn_mask: dict(zip(["output", "weights"], m(
                      query, key, value, attn_mask=attn_mask, average_weights=False), strict=True))),
    "encoder_layer_post": (lambda: encoder_layer(False), lambda m, x, key_mask: {"y": m(x, key_mask=key_mask)}),
    "encoder_layer_pre_gelu": (lambda: encoder_layer(True, "gelu"), lambda m, x: {"y": m(x, is_causal=True)}),
    "encoder": (lambda: TransformerEncoder(lambda: encoder_layer(True), 2, final_norm=True),
                lambda m, x, key_mask: {"y": m(x, key_mask=key_mask)}),
    "decoder_layer": (lambda: TransformerDecoderLayer(8, 2, 16, memory_dim=8, dtype=F64),
                      lambda m, x, memory, memory_key_mask: {"y": m(x, memory=memory,
                                                                    memory_key_mask=memory_key_mask)}),
}


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def part(fixture, case, kind):
    prefix = f"{case}/{kind}/"
    return {key[len(prefix):]: value for key, value in fixture.items() if key.startswith(prefix)}


def test_the_fixture_covers_every_case_and_is_small(fixture):
    recorded = {key.split("/")[0] for key in fixture if "/" in key}
    assert recorded == set(CASES)
    assert FIXTURE.stat().st_size < 300 * 1024


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_weights_give_torchs_outputs_and_gradients(fixture, case):
    make, call = CASES[case]
    model = make()
    torch_state = part(fixture, case, "state")
    assert model.load_torch_state_dict(torch_state) == ([], [])

    inputs = part(fixture, case, "input")
    tensors = {name: ta.tensor(value, requires_grad=True) if value.dtype.kind == "f" else value
               for name, value in inputs.items()}
    outputs = call(model, **tensors)
    cotangents = part(fixture, case, "cotangent")
    assert set(outputs) == set(cotangents)
    loss = sum((outputs[name] * cotangents[name]).sum() for name in outputs)
    loss.backward()

    for name, expected in part(fixture, case, "output").items():
        np.testing.assert_allclose(outputs[name].data, expected, rtol=0, atol=1e-10, err_msg=name)
    for name, expected in part(fixture, case, "grad_input").items():
        np.testing.assert_allclose(tensors[name].grad, expected, rtol=0, atol=1e-10, err_msg=name)
    # The parameters' gradients in torch's layout: load them as the weights of a twin and read them back.
    twin = make()
    twin.load_state_dict({name: parameter.grad for name, parameter in model.named_parameters()})
    gradients = twin.torch_state_dict()
    expected = part(fixture, case, "grad_state")
    assert set(gradients) == set(expected)
    for name in expected:
        np.testing.assert_allclose(gradients[name], expected[name], rtol=0, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("case", sorted(CASES))
def test_torch_state_dict_gives_torchs_state_back(fixture, case):
    model = CASES[case][0]()
    torch_state = part(fixture, case, "state")
    model.load_torch_state_dict(torch_state)
    exported = model.torch_state_dict()
    assert list(exported) == list(torch_state)  # torch's names, in torch's order
    for name, value in torch_state.items():
        assert exported[name].dtype == value.dtype and exported[name].flags.c_contiguous
        np.testing.assert_array_equal(exported[name], value, err_msg=name)


def test_the_round_trip_keeps_float32_models_exactly_and_changes_nothing_else():
    rng = np.random.default_rng(0)
    model = ta.nn.ModuleList([MultiHeadAttention(8, 2, kdim=3, vdim=8, bias=False, rng=rng),
                              nn.LSTM(3, 4, bidirectional=True, rng=rng), nn.Linear(2, 3, rng=rng)])
    twin = ta.nn.ModuleList([MultiHeadAttention(8, 2, kdim=3, vdim=8, bias=False, rng=rng),
                             nn.LSTM(3, 4, bidirectional=True, rng=rng), nn.Linear(2, 3, rng=rng)])
    state = model.torch_state_dict()
    assert "0.in_proj_bias" not in state and "0.q_proj_weight" in state and state["2.weight"].shape == (3, 2)
    assert all(value.dtype == np.float32 for value in state.values())
    twin.load_torch_state_dict(state)
    for (name, mine), (_, theirs) in zip(model.state_dict().items(), twin.state_dict().items(), strict=True):
        np.testing.assert_array_equal(mine, theirs, err_msg=name)
    state["2.weight"][:] = 7  # the export is a copy
    assert not np.any(model[2].weight.data == 7)


def test_a_wrong_torch_state_is_refused_whole_with_torchs_names_and_shapes():
    model = MultiHeadAttention(8, 2, dtype=F64)
    before = model.state_dict()
    state = model.torch_state_dict()
    state["in_proj_weight"] = np.zeros((8, 24))  # transposed by mistake
    del state["out_proj.bias"]
    state["bias_k"] = np.zeros((1, 1, 8))
    with pytest.raises(ShapeError) as error:
        model.load_torch_state_dict(state)
    message = str(error.value)
    assert "load_torch_state_dict into MultiHeadAttention" in message
    assert "in_proj_weight: given (8, 24) vs model (24, 8)" in message
    assert "missing keys: out_proj.bias" in message and "unexpected keys: bias_k" in message
    for name, value in model.state_dict().items():  # nothing was written
        np.testing.assert_array_equal(value, before[name])

    state = model.torch_state_dict()
    state["in_proj_bias"] = np.array(["a"] * 24)
    with pytest.raises(DTypeError, match="in_proj_bias"):
        model.load_torch_state_dict(state)


def test_strict_false_loads_what_matches_and_names_the_rest():
    model = nn.Linear(3, 2, dtype=F64)
    weight = np.arange(6.0).reshape(2, 3)  # torch's (out, in)
    result = model.load_torch_state_dict({"weight": weight, "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(model.weight.data, weight.T)


def test_a_module_whose_layout_leaves_a_parameter_out_is_an_error_not_a_silent_gap():
    class Forgetful(nn.Module):
        def __init__(self):
            super().__init__()
            self.kept = nn.Linear(2, 2)
            self.forgotten = nn.Linear(2, 2)

        def _torch_children(self):
            return [("kept", "kept")]

    with pytest.raises(NotImplementedError, match="forgotten.weight, forgotten.bias"):
        Forgetful().torch_state_dict()


def test_a_decoder_layer_without_memory_maps_to_torchs_encoder_layer_names():
    names = list(TransformerDecoderLayer(8, 2, 16).torch_state_dict())
    assert names == list(TransformerEncoderLayer(8, 2, 16).torch_state_dict())
    assert "norm3.weight" not in names and "linear1.weight" in names
