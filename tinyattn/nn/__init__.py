"""Building blocks: Module and Parameter, layers, recurrent layers, initialisers and losses.

    import tinyattn.nn as nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(1000, 64, padding_idx=0)
            self.out = nn.Linear(64, 5)

        def forward(self, ids):
            return self.out(self.embed(ids).mean(axis=1))

The attention layers (MultiHeadAttention and the Transformer layers) live in tinyattn.attention, which is built on
this package; they are also found here under the names torch.nn gives them, loaded on first use.
"""
import importlib

from tinyattn.nn import init
from tinyattn.nn.layers import Dropout, Embedding, LayerNorm, Linear, dropout
from tinyattn.nn.module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential
from tinyattn.nn.recurrent import GRU, LSTM, GRUCell, LSTMCell

__all__ = [
    "init", "Module", "ModuleList", "Sequential", "Parameter", "IncompatibleKeys", "Linear", "Embedding", "Dropout",
    "dropout", "LayerNorm", "GRUCell", "LSTMCell", "GRU", "LSTM",
]

# name -> the module of tinyattn.attention that defines it (imported on first use: it imports this package)
_ATTENTION_LAYERS = {
    "MultiHeadAttention": "self_attention",
    **dict.fromkeys(["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer"], "transformer"),
}


def __getattr__(name):
    if name in _ATTENTION_LAYERS:
        return getattr(importlib.import_module(f"tinyattn.attention.{_ATTENTION_LAYERS[name]}"), name)
    raise AttributeError(f"module 'tinyattn.nn' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_ATTENTION_LAYERS))
