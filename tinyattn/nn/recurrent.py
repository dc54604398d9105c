"""Recurrent layers: GRUCell and LSTMCell (one step), GRU and LSTM (whole sequences, stacked, optionally both ways).

The gate equations and their order are PyTorch's (see ``tinyattn.ops.recurrent`` for the formulas): GRU gates reset,
update, candidate, with n = tanh(x W_in + b_in + r * (h W_hn + b_hn)) (Cho et al., 2014); LSTM gates input, forget,
cell, output (Hochreiter & Schmidhuber, 1997; Gers et al., 2000).

Parameters, named as in torch, for the cells ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` and for layer k
of GRU and LSTM ``weight_ih_l{k}`` ... (``..._reverse`` for the backward direction). Weights are laid out (in, out)
as in ``Linear``, the transpose of torch's: weight_ih (input, G*H) and weight_hh (H, G*H), G = 3 (GRU) or 4 (LSTM)
gate blocks of H columns side by side. Initialisation: each gate's block of weight_ih is Glorot-uniform (Glorot &
Bengio, 2010), each gate's (H, H) block of weight_hh is orthogonal (Saxe et al., 2014), so the recurrence neither
explodes nor vanishes at the start of training; the biases are U(-1/sqrt(H), 1/sqrt(H)), as torch draws every
parameter (no forget-gate bias of 1).

Shapes, as torch's nn.GRU and nn.LSTM, with D = 2 if bidirectional else 1 and L = num_layers:
x (T, B, input_size), or (B, T, input_size) with batch_first; output (T, B, D*H) (or (B, T, D*H)), the last layer's
states, both directions concatenated (forward first); h_n and c_n (D*L, B, H), layer by layer, forward before
backward. Initial states h0, c0 (D*L, B, H), zeros when not given. Batched input only.

Padded batches: pass ``lengths`` (B,) integers in [0, T], or ``mask`` (B, T) booleans, True = a real step (tinyattn's
one mask convention; the mask is (B, T) even when x is time-major). A padded step leaves the state unchanged and gives
a zero output, so h_n is the state after each sequence's last real step, and the backward direction of a
bidirectional layer starts at each sequence's own last real step. A mask need not be a prefix: every False step is
skipped, as if the sequence were its True steps alone. Padded inputs must be finite (zeros, say); they get zero
gradient. A sequence of length 0 gives zero outputs and h_n = h0.
"""
import math

import numpy as np

from tinyattn import ops
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import _checks, init, torch_layout
from tinyattn.nn.module import Module, Parameter
from tinyattn.primitive import as_array
from tinyattn.random import generator


def _add_parameters(module, suffix, input_size, hidden_size, gate_count, bias, dtype):
    """weight_ih, weight_hh, bias_ih, bias_hh (+ suffix) on `module`, uninitialised, in torch's order."""
    width = gate_count * hidden_size
    setattr(module, "weight_ih" + suffix, Parameter(np.empty((input_size, width), dtype)))  # (I, G*H)
    setattr(module, "weight_hh" + suffix, Parameter(np.empty((hidden_size, width), dtype)))  # (H, G*H)
    setattr(module, "bias_ih" + suffix, Parameter(np.empty(width, dtype)) if bias else None)
    setattr(module, "bias_hh" + suffix, Parameter(np.empty(width, dtype)) if bias else None)


def _reset_parameters(module, gate_count, hidden_size, rng):
    """Glorot-uniform input weights and orthogonal recurrent weights, gate by gate; torch's uniform biases."""
    rng = generator(rng)
    bound = 1.0 / math.sqrt(hidden_size)
    for name, parameter in module.named_parameters(recurse=False):
        if name.startswith("bias"):
            init.uniform_(parameter, -bound, bound, rng)
            continue
        fill = init.orthogonal_ if name.startswith("weight_hh") else init.xavier_uniform_
        for gate in range(gate_count):
            block = Parameter(np.empty((parameter.shape[0], hidden_size), parameter.dtype))  # (in, H)
            parameter.data[:, gate * hidden_size:(gate + 1) * hidden_size] = fill(block, rng=rng).data


def _recurrent_layout(module):
    """Torch keeps each weight transposed, (G*H, in); the biases and the gate order are the same."""
    return [torch_layout.transposed(name) if name.startswith("weight") else torch_layout.same(name)
            for name in module._parameters]


def _sizes(layer, input_size, hidden_size):
    """input_size and hidden_size, checked: positive integers."""
    return _checks.size(layer, "input_size", input_size), _checks.size(layer, "hidden_size", hidden_size)


def _check_input(op, x, ndim, size, dtype, layout):
    """x as given (Tensor or array), after checking its float dtype and its shape `layout` with a last axis `size`."""
    data = as_array(x)
    if data.dtype.kind != "f":
        raise DTypeError(f"{op}: needs float input {layout}, got {data.dtype} of shape {data.shape}")
    if data.ndim != ndim or data.shape[-1] != size or 0 in data.shape:
        raise ShapeError(f"{op}: expected input {layout} with input_size {size} and no empty axis, got shape "
                         f"{data.shape} {data.dtype}")
    if data.dtype != dtype:
        raise DTypeError(f"{op}: input is {data.dtype} but the parameters are {dtype}; convert one "
                         f"(x.astype(...) or model.astype(...))")
    return x


def _check_state(op, name, state, shape, dtype):
    """An initial state (Tensor or array) of `shape` and `dtype`, or zeros when None."""
    if state is None:
        return np.zeros(shape, dtype)
    data = as_array(state)
    if data.shape != shape:
        raise ShapeError(f"{op}: {name} must be {shape} {np.dtype(dtype)}, got {data.shape} {data.dtype}")
    if data.dtype != dtype:
        raise DTypeError(f"{op}: {name} must be {np.dtype(dtype)} like the parameters, got {data.dtype} {data.shape}")
    return state


# ----- one step ------------------------------------------------------------------------------------------------------
class _Cell(Module):
    gate_count = None

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.input_size, self.hidden_size = _sizes(type(self).__name__, input_size, hidden_size)
        _add_parameters(self, "", self.input_size, self.hidden_size, self.gate_count, bias, dtype)
        self.reset_parameters(rng)

    def reset_parameters(self, rng=None):
        _reset_parameters(self, self.gate_count, self.hidden_size, rng)

    def _torch_layout(self):
        return _recurrent_layout(self)

    def _checked(self, x, states):
        op = type(self).__name__
        x = _check_input(op, x, 2, self.input_size, self.weight_ih.dtype, "(B, input_size)")
        shape = (as_array(x).shape[0], self.hidden_size)
        return x, [_check_state(op, name, state, shape, self.weight_ih.dtype) for name, state in states]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class GRUCell(_Cell):
    """One GRU step: h' = (1 - z) * n + z * h, with reset r, update z and candidate n as in PyTorch (Cho et al.,
    2014). x (B, input_size), hidden (B, H) or None (zeros) -> h' (B, H). One recorded operation per step."""

    gate_count = 3

    def forward(self, x, hidden=None):
        x, (hidden,) = self._checked(x, [("hidden", hidden)])
        return ops.gru_cell(x, hidden, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(_Cell):
    """One LSTM step: c' = f * c + i * g, h' = o * tanh(c'), gates as in PyTorch (Hochreiter & Schmidhuber, 1997).
    x (B, input_size), state (h, c) each (B, H), or None (zeros) -> (h', c'). One recorded operation per step."""

    gate_count = 4

    def forward(self, x, state=None):
        hidden, cell = _state_pair(type(self).__name__, state)
        x, (hidden, cell) = self._checked(x, [("hidden", hidden), ("cell", cell)])
        both = ops.lstm_cell(x, hidden, cell, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)  # (2, B, H)
        return both[0], both[1]


def _state_pair(op, state):
    if state is None:
        return None, None
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        raise TypeError(f"{op}: the state must be a pair (h, c) or None, got {type(state).__name__}")
    return state


# ----- whole sequences -----------------------------------------------------------------------------------------------
class _Layers(Module):
    gate_count = None

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, bidirectional=False,
                 dtype=np.float32, rng=None):
        super().__init__()
        input_size, hidden_size = _sizes(type(self).__name__, input_size, hidden_size)
        num_layers = _checks.size(type(self).__name__, "num_layers", num_layers)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes(layer):
                _add_parameters(self, suffix, layer_input, hidden_size, self.gate_count, bias, dtype)
        self.reset_parameters(rng)

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.directions]

    def reset_parameters(self, rng=None):
        _reset_parameters(self, self.gate_count, self.hidden_size, rng)

    def _torch_layout(self):
        return _recurrent_layout(self)

    def _prepare(self, x, lengths, mask, states):
        """Check everything; return x time-major (T, B, I), the step mask (T, B) or None, and the initial states."""
        op = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        x = _check_input(op, x, 3, self.input_size, dtype, layout)
        if self.batch_first:
            x = ops.swapaxes(x, 0, 1)  # (B, T, I) -> (T, B, I)
        steps, batch = as_array(x).shape[:2]
        shape = (self.directions * self.num_layers, batch, self.hidden_size)
        states = [_check_state(op, name, state, shape, dtype) for name, state in states]
        return x, _steps_mask(op, lengths, mask, steps, batch), states

    def _run(self, x, steps_mask, initial_states):
        """The layers one after the other: (output (T, B, D*H), final states, each a list of D*L (B, H) tensors)."""
        # A padded step's input is never used, but W_ih's gradient sums x^T times the input gates' gradient over every
        # step: a NaN or inf in the padding would make it NaN (0 * NaN), so the padded steps are zeroed first.
        layer_input = x if steps_mask is None else ops.where(steps_mask[:, :, None], x, 0.0)
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                index = layer * self.directions + direction
                bias_ih, bias_hh = self._biases(getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix))
                input_gates = _input_gates(layer_input, getattr(self, "weight_ih" + suffix), bias_ih)
                output, final = self._sequence(
                    input_gates, [ops.getitem(state, index) for state in initial_states],
                    getattr(self, "weight_hh" + suffix), bias_hh, steps_mask, reverse=direction == 1)
                outputs.append(output)
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else ops.concatenate(*outputs, axis=2)  # (T, B, D*H)
        output = layer_input
        if steps_mask is not None:
            output = ops.where(steps_mask[:, :, None], output, 0.0)  # zero outputs at padded steps
        if self.batch_first:
            output = ops.swapaxes(output, 0, 1)  # (T, B, D*H) -> (B, T, D*H)
        return output, [ops.stack(*parts, axis=0) for parts in zip(*finals, strict=True)]  # each (D*L, B, H)

    def _biases(self, bias_ih, bias_hh):
        """(the bias added to the input gates of all steps, the bias the sequence op adds at every step)."""
        return bias_ih, bias_hh

    def extra_repr(self):
        options = [f"num_layers={self.num_layers}"] if self.num_layers != 1 else []
        options += [f"{name}=True" for name in ("batch_first", "bidirectional") if getattr(self, name)]
        options += ["bias=False"] if not self.bias else []
        return ", ".join([f"{self.input_size}, {self.hidden_size}"] + options)


class GRU(_Layers):
    """A multi-layer GRU over whole sequences (Cho et al., 2014), PyTorch's gates and shapes (see the module
    docstring): ``output, h_n = gru(x, h0=None, lengths=None, mask=None)``, with output (T, B, D*H) and h_n (D*L,
    B, H). Each layer and direction takes one matrix multiply for the input gates of all steps and one recorded
    operation for its whole time loop."""

    gate_count = 3

    def forward(self, x, h0=None, lengths=None, mask=None):
        """(output, h_n) for x (T, B, I) or (B, T, I); h0 (D*L, B, H) or None (zeros); padding by `lengths` (B,)
        or `mask` (B, T), True = a real step (see the module docstring)."""
        x, steps_mask, states = self._prepare(x, lengths, mask, [("h0", h0)])
        output, (h_n,) = self._run(x, steps_mask, states)
        return output, h_n

    def _sequence(self, input_gates, initial, weight_hh, bias_hh, steps_mask, reverse):
        states = ops.gru_sequence(input_gates, initial[0], weight_hh, bias_hh, mask=steps_mask, reverse=reverse)
        return states, (ops.getitem(states, 0 if reverse else -1),)  # (T, B, H), the state after the last step


class LSTM(_Layers):
    """A multi-layer LSTM over whole sequences (Hochreiter & Schmidhuber, 1997), PyTorch's gates and shapes (see the
    module docstring): ``output, (h_n, c_n) = lstm(x, state=None, lengths=None, mask=None)`` with state = (h0, c0)
    or None, output (T, B, D*H), h_n and c_n (D*L, B, H)."""

    gate_count = 4

    def forward(self, x, state=None, lengths=None, mask=None):
        """(output, (h_n, c_n)) for x (T, B, I) or (B, T, I); state (h0, c0), each (D*L, B, H), or None (zeros);
        padding by `lengths` (B,) or `mask` (B, T), True = a real step (see the module docstring)."""
        h0, c0 = _state_pair(type(self).__name__, state)
        x, steps_mask, states = self._prepare(x, lengths, mask, [("h0", h0), ("c0", c0)])
        output, (h_n, c_n) = self._run(x, steps_mask, states)
        return output, (h_n, c_n)

    def _biases(self, bias_ih, bias_hh):
        # Both biases are added to the gates unchanged, so the sequence op can add their sum: that saves a pass over the
        # (T, B, 4H) input gates, and in the backward a second sum of their gradient over T*B rows.
        if bias_ih is None:  # bias=False: neither exists
            return None, bias_hh
        return None, bias_ih + bias_hh

    def _sequence(self, input_gates, initial, weight_hh, bias_hh, steps_mask, reverse):
        states = ops.lstm_sequence(input_gates, initial[0], initial[1], weight_hh, bias_hh, mask=steps_mask,
                                   reverse=reverse)  # (2, T, B, H): hidden and cell states
        hidden = ops.getitem(states, 0)  # (T, B, H)
        last = 0 if reverse else -1
        return hidden, (ops.getitem(hidden, last), ops.getitem(states, (1, last)))


def _input_gates(x, weight_ih, bias_ih):
    """x W_ih + b_ih for every step at once: (T, B, I) -> (T, B, G*H), one matrix multiply."""
    steps, batch = as_array(x).shape[:2]
    gates = ops.matmul(ops.reshape(x, (steps * batch, -1)), weight_ih)  # (T*B, I) @ (I, G*H)
    if bias_ih is not None:
        gates = gates + bias_ih
    return ops.reshape(gates, (steps, batch, -1))  # (T*B, G*H) -> (T, B, G*H)


def _steps_mask(op, lengths, mask, steps, batch):
    """The (T, B) boolean mask of real steps from `lengths` (B,) or `mask` (B, T); None when every step is real."""
    if lengths is not None and mask is not None:
        raise ValueError(f"{op}: pass lengths or mask, not both")
    if lengths is not None:
        lengths = as_array(lengths)
        if lengths.dtype.kind not in "iu":
            raise DTypeError(f"{op}: lengths must be integers, got {lengths.dtype} of shape {lengths.shape}")
        if lengths.shape != (batch,):
            raise ShapeError(f"{op}: lengths must be (B,) = ({batch},), got shape {lengths.shape}")
        if lengths.min() < 0 or lengths.max() > steps:
            raise ShapeError(f"{op}: lengths must lie in [0, T] = [0, {steps}], got {lengths.min()} to "
                             f"{lengths.max()}")
        steps_mask = np.arange(steps)[:, None] < lengths[None, :]  # (T, B)
    elif mask is not None:
        mask = as_array(mask)
        if mask.dtype != np.bool_:
            raise DTypeError(f"{op}: mask must be boolean (B, T), True = a real step; got {mask.dtype} of shape "
                             f"{mask.shape}")
        if mask.shape != (batch, steps):
            raise ShapeError(f"{op}: mask must be (B, T) = {(batch, steps)}, True = a real step; got shape "
                             f"{mask.shape}")
        steps_mask = np.ascontiguousarray(mask.T)  # (B, T) -> (T, B)
    else:
        return None
    return None if steps_mask.all() else steps_mask
