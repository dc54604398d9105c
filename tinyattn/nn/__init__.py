"""Building blocks: Module and Parameter, layers, recurrent layers, initialisers and losses.

    import tinyattn.nn as nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(1000, 64, padding_idx=0)
            self.out = nn.Linear(64, 5)

        def forward(self, ids):
            return self.out(self.embed(ids).mean(axis=1))
"""
from tinyattn.nn import init
from tinyattn.nn.layers import Dropout, Embedding, LayerNorm, Linear, dropout
from tinyattn.nn.module import IncompatibleKeys, Module, ModuleList, Parameter, Sequential
from tinyattn.nn.recurrent import GRU, LSTM, GRUCell, LSTMCell

__all__ = [
    "init", "Module", "ModuleList", "Sequential", "Parameter", "IncompatibleKeys", "Linear", "Embedding", "Dropout",
    "dropout", "LayerNorm", "GRUCell", "LSTMCell", "GRU", "LSTM",
]
