"""The bridge to PyTorch: a model's parameters under torch's names and in torch's layouts, and back again.

    state = model.torch_state_dict()                 # {torch name: NumPy array}
    torch_model.load_state_dict({name: torch.from_numpy(array) for name, array in state.items()})

    model.load_torch_state_dict({name: tensor.numpy() for name, tensor in torch_model.state_dict().items()})

Nothing here imports torch: both sides are dicts of NumPy arrays.

A module's *layout* is a list of Entry(torch_name, names, to_torch, from_torch): the torch array `torch_name` is
``to_torch(*arrays)`` of the tinyattn arrays called `names` (dotted, relative to the module), and
``from_torch(array)`` gives those arrays back, one per name. Most entries hold one array, kept as it is or
transposed; MultiHeadAttention's in_proj_weight packs three. Where the two libraries differ:

- Linear: tinyattn keeps weight (in, out) so that the code reads x @ W; torch keeps (out, in). Transposed.
- GRU, LSTM, GRUCell, LSTMCell: weight_ih (I, G*H) and weight_hh (H, G*H) here, (G*H, I) and (G*H, H) in torch.
  Transposed; the gates are in torch's order already (GRU: r, z, n; LSTM: i, f, g, o).
- MultiHeadAttention: torch packs the query, key and value projections into in_proj_weight (3E, E) and
  in_proj_bias (3E,), or keeps q_proj_weight, k_proj_weight, v_proj_weight apart when kdim or vdim differ from E.
- Transformer layers: torch's attribute names (linear1, linear2, norm1, norm2, ...), see each layer's layout.
- Every other module: its own parameters and buffers under their own names, its submodules under theirs, so a
  container of the layers above maps onto a torch model whose attributes have the same names.
"""
from collections import namedtuple

import numpy as np

from tinyattn.tensor import Tensor

Entry = namedtuple("Entry", ["torch_name", "names", "to_torch", "from_torch"])


def same(name, torch_name=None):
    """One array, the same in both libraries."""
    return Entry(torch_name or name, (name,), lambda array: np.array(array, order="C"), lambda array: (array,))


def transposed(name, torch_name=None):
    """One matrix, transposed in torch: (in, out) here, (out, in) there."""
    return Entry(torch_name or name, (name,), lambda array: np.ascontiguousarray(array.T), lambda array: (array.T,))


def stacked(torch_name, names, transpose):
    """Several arrays of one shape stacked along torch's first axis (after transposing each, with `transpose`)."""

    def to_torch(*arrays):
        return np.ascontiguousarray(np.concatenate([array.T if transpose else array for array in arrays], axis=0))

    def from_torch(array):
        return tuple(part.T if transpose else part for part in np.split(array, len(names), axis=0))

    return Entry(torch_name, tuple(names), to_torch, from_torch)


def prefixed(entries, name, torch_name):
    """A submodule's entries as its parent's: its names under `name.`, its torch names under `torch_name.`."""
    return [Entry(f"{torch_name}.{entry.torch_name}", tuple(f"{name}.{own}" for own in entry.names),
                  entry.to_torch, entry.from_torch) for entry in entries]


def default_layout(module):
    """The module's own parameters and buffers unchanged, then each submodule that ``_torch_children`` names."""
    entries = [same(name) for name in module._parameters] + [same(name) for name in module._buffers]
    for torch_name, name in module._torch_children():
        entries += prefixed(submodule(module, name)._torch_layout(), name, torch_name)
    return entries


def submodule(module, dotted):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def array_at(module, dotted):
    """The array of the parameter or buffer at a dotted name below `module`."""
    owner, _, name = dotted.rpartition(".")
    value = getattr(submodule(module, owner) if owner else module, name)
    return value.data if isinstance(value, Tensor) else np.asarray(value)
