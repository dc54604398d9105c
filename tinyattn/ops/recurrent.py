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

from tinyattn.kernels import gru as gru_kernels
from tinyattn.kernels import lstm as lstm_kernels
from tinyattn.kernels.exp import KERNEL_DTYPES
from tinyattn.primitive import as_array, joint_vjps, primitive


# ----- GRU ----------------------------------------------------------------------------------------------------------
# As for the LSTM below: the pointwise part of a step (the gates' sums, their activations, h') and its backward are
# kernels (tinyattn.kernels.gru); the matrix multiplies stay here, with BLAS.
@primitive(name="gru_cell", n_inputs=6)
def gru_cell(x, hidden, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step (gate formulas in the module docstring): h' from x (B, I) and h (B, H).

    Weights (I, 3H) and (H, 3H), biases (3H,) or None, gates in the order reset, update, candidate. Returns (B, H).
    """
    _check_cell(3, x, (hidden,), weight_ih, weight_hh, bias_ih, bias_hh)
    _check_kernel_dtype(x)
    input_gates = x @ weight_ih  # (B, I) @ (I, 3H) -> (B, 3H)
    if bias_ih is not None:
        input_gates += bias_ih
    hidden_gates = hidden @ weight_hh  # (B, H) @ (H, 3H) -> (B, 3H); the kernel adds b_hh, and then holds r, z
    new_hidden, candidate = np.empty_like(hidden), np.empty_like(hidden)
    gru_kernels.gru_step(hidden_gates, input_gates, bias_hh, hidden, None, new_hidden, candidate)

    def backward(grad):
        grad_input_gates, grad_hidden_gates = np.empty_like(input_gates), np.empty_like(input_gates)
        grad_hidden = np.empty_like(hidden)
        gru_kernels.gru_step_backward(grad, hidden_gates, candidate, hidden, None, grad_input_gates, grad_hidden_gates,
                                      grad_hidden)
        grad_hidden += grad_hidden_gates @ weight_hh.T  # (B, 3H) @ (3H, H) -> (B, H)
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
    _check_kernel_dtype(input_gates)
    steps = range(len(input_gates) - 1, -1, -1) if reverse else range(len(input_gates))
    # (T + 1, B, H): the initial state in the slot before the first step taken (T with `reverse`, else 0), so that
    # the states each step starts from are a view, and the backward needs no copy of them.
    buffer = np.empty((len(input_gates) + 1,) + hidden.shape, input_gates.dtype)
    buffer[len(input_gates) if reverse else 0] = hidden
    states, previous = (buffer[:-1], buffer[1:]) if reverse else (buffer[1:], buffer[:-1])  # (T, B, H)
    # Every step's hidden gates, kept for the backward: h W_hh is written here, and the kernel adds b_hh and turns
    # the first 2H columns into r and z in place (the last H keep h W_hn + b_hn); n of every step beside them.
    hidden_gates = np.empty_like(input_gates)  # (T, B, 3H)
    candidates = np.empty_like(states)  # (T, B, H)
    for t in steps:
        np.matmul(previous[t], weight_hh, out=hidden_gates[t])  # (B, H) @ (H, 3H) -> (B, 3H)
        gru_kernels.gru_step(hidden_gates[t], input_gates[t], bias_hh, previous[t], None if mask is None else mask[t],
                             states[t], candidates[t])

    def backward(grad_states):
        grad_input_gates, grad_hidden_gates = np.empty_like(input_gates), np.empty_like(input_gates)
        grad_state = np.zeros_like(hidden)  # d h carried from one step to the one before
        step_grad, through_weights = np.empty_like(hidden), np.empty_like(hidden)
        for t in reversed(steps):
            np.add(grad_states[t], grad_state, out=step_grad)  # with the step's own upstream gradient
            gru_kernels.gru_step_backward(step_grad, hidden_gates[t], candidates[t], previous[t],
                                          None if mask is None else mask[t], grad_input_gates[t], grad_hidden_gates[t],
                                          grad_state)
            # + d hidden_gates W_hh^T, 0 at a padded step (whose gates' gradient is 0): d h' passes through as it is
            np.matmul(grad_hidden_gates[t], weight_hh.T, out=through_weights)  # (B, 3H) @ (3H, H) -> (B, H)
            grad_state += through_weights
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
    """The recurrent ops' kernels are compiled for float32 and float64 only (the other checks have run: one float
    dtype)."""
    if array.dtype not in KERNEL_DTYPES:
        raise TypeError(f"needs float32 or float64 arrays (the dtypes of its kernels), got {array.dtype}")


def _check_dtypes(*arrays):
    dtypes = {array.dtype for array in arrays if array is not None}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        raise TypeError(f"needs every array in one float dtype, got {sorted(map(str, dtypes))}")
