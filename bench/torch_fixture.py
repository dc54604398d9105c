"""Write tests/data/torch_layers.npz: what torch computes for each layer that ``Module.torch_state_dict`` maps, so
that tests/test_torch_bridge.py can check the bridge without torch (not a benchmark: run.py skips it).

    python bench/torch_fixture.py        # needs torch (pip install -e '.[bench]'); rewrites the fixture

For each case, in float64: torch's state dict (every parameter drawn from N(0, 0.5^2), so that a mix-up of layouts
cannot hide behind ones and zeros), the inputs, a random cotangent for each output, the outputs, and the gradients
of sum(output * cotangent) with respect to every input and every parameter (under torch's names). Keys are
"<case>/<kind>/<name>", kind one of state, input, cotangent, output, grad_input, grad_state; plus "torch_version".
Masks are stored in tinyattn's polarity (True = may attend, or a real key); torch gets their negation.
"""
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "torch_layers.npz"


def causal_blocked(length):
    """torch's boolean attn_mask for causal attention: True above the diagonal (may NOT attend)."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


def cases(rng):
    """(name, torch module, inputs {name: array}, masks {name: bool array, True = real/allowed}, call)."""

    def floats(*shape):
        return rng.normal(size=shape)

    key_mask = np.array([[True] * 6, [True] * 4 + [False] * 2])  # (2, 6): the second sequence has 2 pads
    cross_mask = rng.random((4, 6)) < 0.7
    cross_mask[:, 0] = True  # every query keeps at least one key
    gelu_tanh = lambda x: nn.functional.gelu(x, approximate="tanh")  # noqa: E731  tinyattn's "gelu"

    yield "linear", nn.Linear(5, 4), {"x": floats(2, 3, 5)}, {}, lambda m, x: {"y": m(x)}
    yield ("embedding", nn.Embedding(7, 4, padding_idx=0), {}, {"ids": rng.integers(0, 7, (2, 5))},
           lambda m, ids: {"y": m(ids)})
    yield "layer_norm", nn.LayerNorm(6), {"x": floats(2, 3, 6)}, {}, lambda m, x: {"y": m(x)}
    yield ("gru", nn.GRU(4, 5, num_layers=2, bidirectional=True), {"x": floats(6, 3, 4), "h0": floats(4, 3, 5)}, {},
           lambda m, x, h0: dict(zip(["output", "h_n"], m(x, h0), strict=True)))
    yield ("lstm", nn.LSTM(4, 5, num_layers=2, bidirectional=True, batch_first=True),
           {"x": floats(3, 6, 4), "h0": floats(4, 3, 5), "c0": floats(4, 3, 5)}, {},
           lambda m, x, h0, c0: (lambda out: {"output": out[0], "h_n": out[1][0], "c_n": out[1][1]})(m(x, (h0, c0))))
    yield ("gru_cell", nn.GRUCell(4, 5), {"x": floats(3, 4), "h": floats(3, 5)}, {},
           lambda m, x, h: {"h_next": m(x, h)})
    yield ("lstm_cell", nn.LSTMCell(4, 5), {"x": floats(3, 4), "h": floats(3, 5), "c": floats(3, 5)}, {},
           lambda m, x, h, c: dict(zip(["h_next", "c_next"], m(x, (h, c)), strict=True)))
    yield ("mha_self", nn.MultiheadAttention(8, 2, batch_first=True), {"x": floats(2, 6, 8)},
           {"key_mask": key_mask},
           lambda m, x, key_mask: dict(zip(["output", "weights"], m(x, x, x, key_padding_mask=~key_mask), strict=True)))
    yield ("mha_cross", nn.MultiheadAttention(8, 2, kdim=3, vdim=5, batch_first=True),
           {"query": floats(2, 4, 8), "key": floats(2, 6, 3), "value": floats(2, 6, 5)}, {"attn_mask": cross_mask},
           lambda m, query, key, value, attn_mask: dict(zip(["output", "weights"], m(
               query, key, value, attn_mask=~attn_mask, average_attn_weights=False), strict=True)))
    yield ("encoder_layer_post", nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
           {"x": floats(2, 6, 8)}, {"key_mask": key_mask},
           lambda m, x, key_mask: {"y": m(x, src_key_padding_mask=~key_mask)})
    yield ("encoder_layer_pre_gelu", nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                                norm_first=True, activation=gelu_tanh),
           {"x": floats(2, 6, 8)}, {}, lambda m, x: {"y": m(x, src_mask=causal_blocked(6), is_causal=True)})
    yield ("encoder", nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                                                        norm_first=True),
                                            2, norm=nn.LayerNorm(8), enable_nested_tensor=False),
           {"x": floats(2, 6, 8)}, {"key_mask": key_mask},
           lambda m, x, key_mask: {"y": m(x, src_key_padding_mask=~key_mask)})
    yield ("decoder_layer", nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, norm_first=True),
           {"x": floats(2, 5, 8), "memory": floats(2, 6, 8)}, {"memory_key_mask": key_mask},
           lambda m, x, memory, memory_key_mask: {"y": m(x, memory, tgt_mask=causal_blocked(5), tgt_is_causal=True,
                                                         memory_key_padding_mask=~memory_key_mask)})


def record(name, module, inputs, masks, call, rng):
    module = module.double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.from_numpy(rng.normal(0.0, 0.5, parameter.shape)))
    arrays = {f"{name}/state/{key}": value.detach().numpy().copy() for key, value in module.state_dict().items()}
    tensors = {key: torch.tensor(value, requires_grad=True) for key, value in inputs.items()}
    outputs = call(module, **tensors, **{key: torch.from_numpy(value) for key, value in masks.items()})
    loss = 0.0
    for key, output in outputs.items():
        cotangent = rng.normal(size=tuple(output.shape))
        loss = loss + (output * torch.from_numpy(cotangent)).sum()
        arrays[f"{name}/cotangent/{key}"] = cotangent
        arrays[f"{name}/output/{key}"] = output.detach().numpy().copy()
    loss.backward()
    for key, value in inputs.items():
        arrays[f"{name}/input/{key}"] = value
        arrays[f"{name}/grad_input/{key}"] = tensors[key].grad.numpy().copy()
    for key, value in masks.items():
        arrays[f"{name}/input/{key}"] = value
    for key, parameter in module.named_parameters():
        arrays[f"{name}/grad_state/{key}"] = parameter.grad.numpy().copy()
    return arrays


def main():
    rng = np.random.default_rng(2026)
    torch.manual_seed(0)
    arrays = {"torch_version": np.array(torch.__version__)}
    for case in cases(rng):
        arrays.update(record(*case, rng))
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KB, {len(arrays)} arrays, torch {torch.__version__})")


if __name__ == "__main__":
    sys.exit(main())
