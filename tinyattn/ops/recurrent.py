"""Recurrent cells as primitives: one GRU or LSTM step, and a whole sequence of steps, each forward beside its
hand-written backward.

The gate formulas are PyTorch's (GRU: Cho et al., 2014; LSTM: Hochreiter & Schmidhuber, 1997, with the forget gate
of Gers et al., 2000), with weights laid out (in, out) as in ``Linear``: the columns of a weight hold the gates side
by side, in PyTorch's order.

GRU, gates reset r, update z, candidate n; H the hidden size::

    input_gates  = x W_ih + b_ih                    (B, 3H)
    hidden_gates = h W_hh + b_hh                    (B, 3H)
    r  = sigmoid(input_gates_r + hidden_gates_r)
    z  = sigmoid(input_gates_z + hidden_gates_z)
    n  = tanh(input_gates_n + r * hidden_gates_n)   r scales the recurrent part only, bias b_hn included
    h' = (1 - z) * n + z * h

LSTM, gates input i, forget f, cell candidate g, output o::

    gates = x W_ih + b_ih + h W_hh + b_hh           (B, 4H)
    i = sigmoid(gates_i)   f = sigmoid(gates_f)   g = tanh(gates_g)   o = sigmoid(gates_o)
    c' = f * c + i * g
    h' = o * tanh(c')

The cell primitives (``gru_cell``, ``lstm_cell``) take x and both weights, so a step of a decoder loop is one
recorded operation. The sequence primitives (``gru_sequence``, ``lstm_sequence``) take the input gates of every step,
computed beforehand by one matrix multiply, and run the whole time loop as one recorded operation; their backward is
backpropagation through time, with the weight gradients summed over all steps by one matrix multiply at the end.
Each backward gives all of its op's input gradients in one pass, shared between the VJPs by ``joint_vjps``.

Padding: a sequence op takes an optional boolean `mask` (T, B), True = a real step (tinyattn's one mask convention).
At a padded step the state passes through unchanged (and so does its gradient), so the states at the end are those
after each sequence's last real step. With ``reverse=True`` the steps are taken from the last to the first, so a
right-padded sequence starts from its own last real step.
"""
import numpy as np

from tinyattn.kernels import lstm as lstm_kernels
from tinyattn.kernels.exp import KERNEL_DTYPES
from tinyattn.ops.elementwise import stable_sigmoid
from tinyattn.primitive import as_array, joint_vjps, primitive


# ----- GRU ----------------------------------------------------------------------------------------------------------
def _gru_step(input_gates, hidden, weight_hh, bias_hh):
    """One GRU step: (h' (B, H), what the backward needs) from the input gates (B, 3H) and the state h (B, H)."""
    size = hidden.shape[1]
    hidden_gates = hidden @ weight_hh  # (B, H) @ (H, 3H) -> (B, 3H)
    if bias_hh is not None:
        hidden_gates += bias_hh
    # (B, 2H): r and z side by side
    reset_update = stable_sigmoid(input_gates[:, :2 * size] + hidden_gates[:, :2 * size])
    reset, update = reset_update[:, :size], reset_update[:, size:]
    hidden_candidate = hidden_gates[:, 2 * size:]  # W_hn h + b_hn, which r scales
    candidate = np.tanh(input_gates[:, 2 * size:] + reset * hidden_candidate)
    new_hidden = candidate + update * (hidden - candidate)  # = (1 - z) n + z h
    return new_hidden, (reset_update, candidate, hidden_candidate)


def _gru_step_backward(grad, hidden, weight_hh, saved, grad_input_gates, grad_hidden_gates):
    """Backward of one GRU step, given the gradient (B, H) of h'. Fills the gradients of the input gates and of the
    hidden gates (B, 3H each, pre-activation) and returns the gradient of the previous state h (B, H)."""
    reset_update, candidate, hidden_candidate = saved
    size = hidden.shape[1]
    reset, update = reset_update[:, :size], reset_update[:, size:]
    # h' = n + z (h - n):  d n = grad (1 - z),  d z = grad (h - n),  d h (direct) = grad z;  tanh' = 1 - n^2
    grad_candidate = grad * (1 - update) * (1 - candidate * candidate)
    grad_input_gates[:, 2 * size:] = grad_candidate
    # n = tanh(.. + r * hidden_n):  d r = d n_pre * hidden_n;  then sigmoid' = s (1 - s) for r and z at once
    np.multiply(grad_candidate, hidden_candidate, out=grad_input_gates[:, :size])
    np.multiply(grad, hidden - candidate, out=grad_input_gates[:, size:2 * size])
    grad_input_gates[:, :2 * size] *= reset_update * (1 - reset_update)
    # The hidden gates get the same gradients, except the candidate's, which r scales on the way in.
    grad_hidden_gates[:, :2 * size] = grad_input_gates[:, :2 * size]
    np.multiply(grad_candidate, reset, out=grad_hidden_gates[:, 2 * size:])
    return grad * update + grad_hidden_gates @ weight_hh.T  # (B, 3H) @ (3H, H) -> (B, H)


@primitive(name="gru_cell", n_inputs=6)
def gru_cell(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step (gate formulas in the module docstring): h' from x (B, I) and h (B, H).

    Weights (I, 3H) and (H, 3H), biases (3H,) or None, gates in the order reset, update, candidate. Returns (B, H).
    """
    _check_cell(3, x, (hidden,), weight_ih, weight_hh, bias_ih, bias_hh)
    input_gates = x @ weight_ih  # (B, I) @ (I, 3H) -> (B, 3H)
    if bias_ih is not None:
        input_gates += bias_ih
    new_hidden, saved = _gru_step(input_gates, hidden, weight_hh, bias_hh)

    def backward(grad):
        grad_input_gates, grad_hidden_gates = np.empty_like(input_gates), np.empty_like(input_gates)
        grad_hidden = _gru_step_backward(grad, hidden, weight_hh, saved, grad_input_gates, grad_hidden_gates)
        return (
            grad_input_gates @ weight_ih.T, grad_hidden, x.T @ grad_input_gates, hidden.T @ grad_hidden_gates,
            grad_input_gates.sum(axis=0), grad_hidden_gates.sum(axis=0),
        )

    return new_hidden, joint_vjps(backward, 6)


@primitive(name="gru_sequence", n_inputs=4)
def gru_sequence(input_gates, hidden, weight_hh, bias_hh, mask=None, reverse=False):
    """GRU steps over a whole sequence: the state after every step, (T, B, H).

    input_gates (T, B, 3H) = x W_ih + b_ih for every step, computed beforehand; hidden (B, H) the initial state;
    weight_hh (H, 3H), bias_hh (3H,) or None. `mask` (T, B) boolean, True = a real step (a padded step leaves the
    state unchanged), or None. With `reverse` the steps run from t = T - 1 down to 0; the final state is then
    ``out[0]``, otherwise ``out[-1]``.
    """
    mask = _check_sequence(3, input_gates, (hidden,), weight_hh, bias_hh, mask)
    steps = range(len(input_gates) - 1, -1, -1) if reverse else range(len(input_gates))
    states = np.empty(input_gates.shape[:2] + hidden.shape[1:], input_gates.dtype)  # (T, B, H)
    saved = [None] * len(input_gates)
    state = hidden
    for t in steps:
        new_state, saved[t] = _gru_step(input_gates[t], state, weight_hh, bias_hh)
        if mask is not None:
            new_state = np.where(mask[t, :, None], new_state, state)
        states[t] = state = new_state

    def backward(grad_states):
        previous = _previous_states(states, hidden, reverse)  # (T, B, H): the state each step started from
        grad_input_gates, grad_hidden_gates = np.empty_like(input_gates), np.empty_like(input_gates)
        grad_state = np.zeros_like(states[0])
        for t in reversed(steps):
            grad = grad_states[t] + grad_state
            step_grad = grad if mask is None else np.where(mask[t, :, None], grad, 0)
            grad_state = _gru_step_backward(
                step_grad, previous[t], weight_hh, saved[t], grad_input_gates[t], grad_hidden_gates[t])
            if mask is not None:
                grad_state += np.where(mask[t, :, None], 0, grad)  # a padded step passes its state through
        grad_weight_hh, grad_bias_hh = _summed_over_steps(previous, grad_hidden_gates)
        return grad_input_gates, grad_state, grad_weight_hh, grad_bias_hh

    return states, joint_vjps(backward, 4)


# ----- LSTM ---------------------------------------------------------------------------------------------------------
# The pointwise part of a step (the gates' sum, their activations, c', h') and its backward are kernels
# (tinyattn.kernels.lstm); the matrix multiplies stay here, with BLAS.
@primitive(name="lstm_cell", n_inputs=7)
def lstm_cell(x, hidden, cell, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step (gate formulas in the module docstring) from x (B, I) and the state h, c (B, H each).

    Weights (I, 4H) and (H, 4H), biases (4H,) or None, gates in the order input, forget, cell, output.
    Returns h' and c' stacked, (2, B, H).
    """
    _check_cell(4, x, (hidden, cell), weight_ih, weight_hh, bias_ih, bias_hh)
    _check_kernel_dtype(x)
    input_gates = x @ weight_ih  # (B, I) @ (I, 4H) -> (B, 4H)
    if bias_ih is not None:
        input_gates += bias_ih
    gates = hidden @ weight_hh  # (B, H) @ (H, 4H) -> (B, 4H); the kernel adds the input gates and b_hh
    out = np.empty((3,) + hidden.shape, hidden.dtype)  # h', c' and tanh(c')
    lstm_kernels.lstm_step(gates, input_gates, bias_hh, hidden, cell, None, out[0], out[1], out[2])
    tanh_cell = out[2]  # gates: now the activations i, f, g, o

    def backward(grad):
        grad_gates, grad_cell = np.empty_like(gates), np.empty_like(cell)
        lstm_kernels.lstm_step_backward(grad[0], grad[1], gates, cell, tanh_cell, None, grad_gates, grad_cell)
        grad_bias = grad_gates.sum(axis=0)
        return (grad_gates @ weight_ih.T, grad_gates @ weight_hh.T, grad_cell, x.T @ grad_gates,
                hidden.T @ grad_gates, grad_bias, grad_bias.copy())

    return out[:2], joint_vjps(backward, 7)


@primitive(name="lstm_sequence", n_inputs=5)
def lstm_sequence(input_gates, hidden, cell, weight_hh, bias_hh, mask=None, reverse=False):
    """LSTM steps over a whole sequence: the hidden and cell states after every step, stacked, (2, T, B, H).

    input_gates (T, B, 4H) = x W_ih + b_ih for every step, computed beforehand; hidden and cell (B, H) the initial
    state; weight_hh (H, 4H), bias_hh (4H,) or None. `mask` (T, B) boolean, True = a real step (a padded step
    leaves the state unchanged), or None. With `reverse` the steps run from t = T - 1 down to 0; the final state is
    then ``out[:, 0]``, otherwise ``out[:, -1]``.
    """
    mask = _check_sequence(4, input_gates, (hidden, cell), weight_hh, bias_hh, mask)
    _check_kernel_dtype(input_gates)
    steps = range(len(input_gates) - 1, -1, -1) if reverse else range(len(input_gates))
    # (2, T + 1, B, H): h and c, the initial state in the slot before the first step taken (T with `reverse`, else
    # 0), so that the states each step starts from are a view, and the backward needs no copy of them.
    buffer = np.empty((2, len(input_gates) + 1) + hidden.shape, input_gates.dtype)
    initial = len(input_gates) if reverse else 0
    buffer[0, initial], buffer[1, initial] = hidden, cell
    states, previous = (buffer[:, :-1], buffer[:, 1:]) if reverse else (buffer[:, 1:], buffer[:, :-1])  # (2, T, B, H)
    # Every step's gates, kept for the backward: h W_hh is written here, and the kernel adds the input gates and b_hh
    # and turns the sum into the activations i, f, g, o in place.
    gates = np.empty_like(input_gates)  # (T, B, 4H)
    tanh_cells = np.empty_like(states[1])  # (T, B, H): tanh(c') of every step
    for t in steps:
        np.matmul(previous[0, t], weight_hh, out=gates[t])  # (B, H) @ (H, 4H) -> (B, 4H)
        lstm_kernels.lstm_step(gates[t], input_gates[t], bias_hh, previous[0, t], previous[1, t],
                               None if mask is None else mask[t], states[0, t], states[1, t], tanh_cells[t])

    def backward(grad_states):
        grad_gates = np.empty_like(gates)
        # d h and d c carried from one step to the one before, and with the step's own upstream gradient added
        grad_hidden, grad_cell = np.zeros_like(hidden), np.zeros_like(cell)
        step_grad_hidden, step_grad_cell = np.empty_like(hidden), np.empty_like(cell)
        for t in reversed(steps):
            np.add(grad_states[0, t], grad_hidden, out=step_grad_hidden)
            np.add(grad_states[1, t], grad_cell, out=step_grad_cell)
            keep = None if mask is None else mask[t]
            lstm_kernels.lstm_step_backward(step_grad_hidden, step_grad_cell, gates[t], previous[1, t],
                                            tanh_cells[t], keep, grad_gates[t], grad_cell)
            np.matmul(grad_gates[t], weight_hh.T, out=grad_hidden)  # (B, 4H) @ (4H, H) -> (B, H)
            if keep is not None:  # a padded step (its gates' gradient is 0) passes h's gradient through
                np.copyto(grad_hidden, step_grad_hidden, where=~keep[:, None])
        grad_weight_hh, grad_bias_hh = _summed_over_steps(previous[0], grad_gates)
        return grad_gates, grad_hidden, grad_cell, grad_weight_hh, grad_bias_hh

    return states, joint_vjps(backward, 5)


# ----- shared by the sequence ops ------------------------------------------------------------------------------------
def _previous_states(states, initial, reverse):
    """The state each step started from, (T, B, H): the initial state, then the steps' results in their order."""
    if reverse:
        return np.concatenate([states[1:], initial[None]])
    return np.concatenate([initial[None], states[:-1]])


def _summed_over_steps(previous, grad_hidden_gates):
    """Gradients of W_hh and b_hh summed over all steps, by one matrix multiply: (H, G) and (G,)."""
    rows = previous.shape[0] * previous.shape[1]
    grad_weight = previous.reshape(rows, -1).T @ grad_hidden_gates.reshape(rows, -1)  # (H, T*B) @ (T*B, G)
    return grad_weight, grad_hidden_gates.sum(axis=(0, 1))


# ----- checks (ValueError and TypeError here become ShapeError and DTypeError naming the op and its inputs) ---------
def _check_cell(gate_count, x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    if x.ndim != 2 or weight_ih.ndim != 2 or x.shape[1] != weight_ih.shape[0]:
        raise ValueError(f"needs x (B, I) and weight_ih (I, {gate_count}H), got x {x.shape}, weight_ih "
                         f"{weight_ih.shape}")
    _check_recurrent(gate_count, x.shape[0], weight_ih.shape[1], state, weight_hh, bias_hh)
    if bias_ih is not None and bias_ih.shape != weight_ih.shape[1:]:
        raise ValueError(f"needs bias_ih ({weight_ih.shape[1]},), got {bias_ih.shape}")
    _check_dtypes(x, weight_ih, *state, weight_hh, bias_ih, bias_hh)


def _check_sequence(gate_count, input_gates, state, weight_hh, bias_hh, mask):
    if input_gates.ndim != 3 or input_gates.shape[0] == 0:
        raise ValueError(f"needs input_gates (T, B, {gate_count}H) with T >= 1, got {input_gates.shape}")
    _check_recurrent(gate_count, input_gates.shape[1], input_gates.shape[2], state, weight_hh, bias_hh)
    if mask is not None:
        mask = as_array(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be boolean (T, B), True = a real step (an integer 0/1 mask is refused); got "
                            f"mask of shape {mask.shape} {mask.dtype}")
        if mask.shape != input_gates.shape[:2]:
            raise ValueError(f"mask must be (T, B) = {input_gates.shape[:2]}, got {mask.shape}")
    _check_dtypes(input_gates, *state, weight_hh, bias_hh)
    return mask


def _check_recurrent(gate_count, batch, gates_width, state, weight_hh, bias_hh):
    size = weight_hh.shape[0] if weight_hh.ndim == 2 else -1
    if weight_hh.shape != (size, gate_count * size) or gates_width != gate_count * size:
        raise ValueError(f"needs weight_hh (H, {gate_count}H) and {gate_count}H gates, got weight_hh "
                         f"{weight_hh.shape} and {gates_width} gates")
    for part in state:
        if part.shape != (batch, size):
            raise ValueError(f"needs a state (B, H) = {(batch, size)}, got {part.shape}")
    if bias_hh is not None and bias_hh.shape != (gate_count * size,):
        raise ValueError(f"needs bias_hh ({gate_count * size},), got {bias_hh.shape}")


def _check_kernel_dtype(array):
    """The LSTM ops' kernels are compiled for float32 and float64 only (the other checks have run: one float dtype)."""
    if array.dtype not in KERNEL_DTYPES:
        raise TypeError(f"needs float32 or float64 arrays (the dtypes of its kernels), got {array.dtype}")


def _check_dtypes(*arrays):
    dtypes = {array.dtype for array in arrays if array is not None}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        raise TypeError(f"needs every array in one float dtype, got {sorted(map(str, dtypes))}")
