"""The pointwise part of a GRU step, forward and backward (Cho et al., 2014, in PyTorch's form): everything of a
step but its matrix multiply, which stays with BLAS.

Forward. The caller writes h W_hh (B, 3H) into `hidden_gates`; the step adds b_hh (3H,) to it, and then, with the
input gates x W_ih + b_ih (B, 3H), side by side in PyTorch's order reset, update, candidate, and the state h (B, H):

    r = sigmoid(input_gates_r + hidden_gates_r)     z = sigmoid(input_gates_z + hidden_gates_z)
    n = tanh(input_gates_n + r hidden_gates_n)      h' = n + z (h - n)   (= (1 - z) n + z h)

r and z overwrite the first 2H columns of `hidden_gates`; its last H columns keep hidden_gates_n = h W_hn + b_hn
(the backward needs it, for the gradient of r). n and h' are written to arrays the caller gives. Where `keep` (B,) is
False (a padded step) the state passes through: h' = h (the gates are still computed, and unused). `bias` and `keep`
may be None.

Backward, given d h' (the whole gradient of h', from outside the step and from the steps after it):

    d n_pre = d h' (1 - z) (1 - n^2)                    (n_pre = input_gates_n + r hidden_gates_n)
    d r_pre = d n_pre hidden_gates_n r (1 - r)          d z_pre = d h' (h - n) z (1 - z)
    d input_gates  = (d r_pre, d z_pre, d n_pre)        d hidden_gates = (d r_pre, d z_pre, d n_pre r)
    d h (direct) = d h' z

At a padded step the gates' gradients are 0 and d h (direct) = d h'. The rest of the gradient of h
(d hidden_gates W_hh^T) is the caller's matrix multiply.

The NumPy references come first, then the Numba kernels, built like those of the LSTM (tinyattn/kernels/lstm.py,
whose row helpers they share): one vectorised exp and expm1 for all the sigmoids of a step, one for all its tanhs.
"""
import numpy as np

from tinyattn.kernels.exp import copy_back, exp_scratch, kernel_input, kernel_output, numbers, stable_sigmoid, stand_in
from tinyattn.kernels.lstm import CONTRACT, exp_expm1_row, keep_rows, sigmoid_row, tanh_from_expm1
from tinyattn.kernels.switch import Kernel, jit

# ----- NumPy references -------------------------------------------------------------------------------------


def gru_step_reference(hidden_gates, input_gates, bias, hidden, keep, new_hidden, candidate):
    """One step's pointwise part, in place: hidden_gates (B, 3H) hold h W_hh on entry and r, z, h W_hn + b_hn on
    return; writes h' and n (B, H)."""
    size = hidden.shape[1]
    if bias is not None:
        hidden_gates += bias
    reset_update = hidden_gates[:, :2 * size]  # r and z side by side
    reset_update += input_gates[:, :2 * size]
    reset_update[...] = stable_sigmoid(reset_update)
    reset, update, hidden_candidate = hidden_gates[:, :size], hidden_gates[:, size:2 * size], hidden_gates[:, 2 * size:]
    np.multiply(reset, hidden_candidate, out=candidate)  # r scales the recurrent part only, b_hn included
    candidate += input_gates[:, 2 * size:]
    np.tanh(candidate, out=candidate)
    np.subtract(hidden, candidate, out=new_hidden)
    new_hidden *= update
    new_hidden += candidate  # h' = n + z (h - n)
    if keep is not None:  # a padded step leaves the state as it was
        np.copyto(new_hidden, hidden, where=~keep[:, None])


def gru_step_backward_reference(grad_hidden, hidden_gates, candidate, hidden, keep, grad_input_gates,
                                grad_hidden_gates, grad_previous_hidden):
    """One step's pointwise backward: writes the gradients of the input and hidden gates (B, 3H each,
    pre-activation) and the direct part of d h (B, H), from d h' (B, H), the forward's `hidden_gates` (r, z,
    h W_hn + b_hn), n and the previous state h."""
    size = hidden.shape[1]
    reset_update = hidden_gates[:, :2 * size]
    reset, update, hidden_candidate = hidden_gates[:, :size], hidden_gates[:, size:2 * size], hidden_gates[:, 2 * size:]
    # h' = n + z (h - n):  d n = d h' (1 - z),  d z = d h' (h - n),  d h (direct) = d h' z;  tanh' = 1 - n^2
    grad_candidate = grad_hidden * (1 - update) * (1 - candidate * candidate)
    grad_input_gates[:, 2 * size:] = grad_candidate
    # n = tanh(.. + r hidden_n):  d r = d n_pre hidden_n;  then sigmoid' = s (1 - s) for r and z at once
    np.multiply(grad_candidate, hidden_candidate, out=grad_input_gates[:, :size])
    np.multiply(grad_hidden, hidden - candidate, out=grad_input_gates[:, size:2 * size])
    grad_input_gates[:, :2 * size] *= reset_update * (1 - reset_update)
    # The hidden gates get the same gradients, except the candidate's, which r scales on the way in.
    grad_hidden_gates[:, :2 * size] = grad_input_gates[:, :2 * size]
    np.multiply(grad_candidate, reset, out=grad_hidden_gates[:, 2 * size:])
    np.multiply(grad_hidden, update, out=grad_previous_hidden)
    if keep is not None:  # a padded step: no gradient for its gates; h's gradient passes through
        grad_input_gates[~keep] = 0
        grad_hidden_gates[~keep] = 0
        np.copyto(grad_previous_hidden, grad_hidden, where=~keep[:, None])


# ----- Numba kernels ------------------------------------------------------------------------------------------
# As in lstm.py: each loop runs from index 0 over one row (or one gate of it) and writes one array, or two, so that
# LLVM vectorises it; the exps are taken for the whole batch at once, once for r and z and once for n.
@jit(fastmath=CONTRACT, error_model="numpy")
def gru_step_rows(hidden_gates, input_gates, bias, hidden, keep, new_hidden, candidate, numbers, bits):
    """The forward, in three passes over the batch: the sums for r and z (and their exp), r, z and n's argument
    (and its expm1), then n and h'. `bits` is exp_scratch of 2 B H integers."""
    batch, size = hidden.shape
    one = numbers.one
    two = one + one
    dtype = hidden_gates.dtype
    gate_args, gate_exps, gate_expm1s = (np.empty((batch, 2 * size), dtype), np.empty(batch * 2 * size, dtype),
                                         np.empty(batch * 2 * size, dtype))
    candidate_args = np.empty((batch, size), dtype)  # n's arguments, -2 |n_pre|
    for b in range(batch):
        row, inputs, args = hidden_gates[b], input_gates[b], gate_args[b]  # (3H,): r, z, n side by side
        for j in range(3 * size):
            row[j] += bias[j]  # h W_hh + b_hh
        for j in range(2 * size):
            row[j] += inputs[j]  # + x W_ih + b_ih, for r and z
            args[j] = -abs(row[j])
    exp_expm1_row(gate_args.reshape(batch * 2 * size), gate_exps, gate_expm1s, numbers, bits)
    for b in range(batch):
        row, inputs, squashed, args = hidden_gates[b], input_gates[b], candidate[b], candidate_args[b]
        sigmoid_row(row[:2 * size], gate_exps[2 * size * b:2 * size * (b + 1)], one)
        reset, hidden_candidate, input_candidate = row[:size], row[2 * size:], inputs[2 * size:]
        for j in range(size):
            squashed[j] = input_candidate[j] + reset[j] * hidden_candidate[j]  # n_pre
            args[j] = -(abs(squashed[j]) + abs(squashed[j]))
    candidate_expm1s = gate_expm1s[:batch * size]  # the gates' exps are used up: their arrays are reused
    exp_expm1_row(candidate_args.reshape(batch * size), gate_exps[:batch * size], candidate_expm1s, numbers, bits)
    for b in range(batch):
        squashed, update, hidden_out = candidate[b], hidden_gates[b, size:2 * size], new_hidden[b]
        expm1s = candidate_expm1s[b * size:(b + 1) * size]
        for j in range(size):
            squashed[j] = tanh_from_expm1(squashed[j], expm1s[j], two)
        if keep[b]:
            for j in range(size):
                hidden_out[j] = squashed[j] + update[j] * (hidden[b, j] - squashed[j])  # h' = n + z (h - n)
        else:  # a padded step leaves the state as it was
            for j in range(size):
                hidden_out[j] = hidden[b, j]


@jit(fastmath=CONTRACT)
def gru_step_backward_rows(grad_hidden, hidden_gates, candidate, hidden, keep, grad_input_gates, grad_hidden_gates,
                           grad_previous_hidden, one):
    size = hidden.shape[1]
    for b in range(hidden.shape[0]):
        grad_inputs, grad_hiddens, grad_previous, grad_out = (grad_input_gates[b], grad_hidden_gates[b],
                                                              grad_previous_hidden[b], grad_hidden[b])
        if not keep[b]:  # a padded step: no gradient for its gates; h's gradient passes through
            for j in range(3 * size):
                grad_inputs[j] = one - one
                grad_hiddens[j] = one - one
            for j in range(size):
                grad_previous[j] = grad_out[j]
            continue
        row, squashed, state = hidden_gates[b], candidate[b], hidden[b]
        reset, update, hidden_candidate = row[:size], row[size:2 * size], row[2 * size:]
        grad_reset, grad_update, grad_candidate = grad_inputs[:size], grad_inputs[size:2 * size], grad_inputs[2 * size:]
        for j in range(size):
            grad_candidate[j] = grad_out[j] * (one - update[j]) * (one - squashed[j] * squashed[j])  # d n_pre
        grad_hidden_candidate = grad_hiddens[2 * size:]
        for j in range(size):
            grad_hidden_candidate[j] = grad_candidate[j] * reset[j]
        for j in range(size):  # d n_pre again, rather than read from the array this loop writes
            grad_reset[j] = (grad_out[j] * (one - update[j]) * (one - squashed[j] * squashed[j]) * hidden_candidate[j]
                             * reset[j] * (one - reset[j]))
        for j in range(size):
            grad_update[j] = grad_out[j] * (state[j] - squashed[j]) * update[j] * (one - update[j])
        for j in range(2 * size):
            grad_hiddens[j] = grad_inputs[j]
        for j in range(size):
            grad_previous[j] = grad_out[j] * update[j]


def gru_step_numba(hidden_gates, input_gates, bias, hidden, keep, new_hidden, candidate):
    dtype, (batch, width) = hidden_gates.dtype, hidden_gates.shape
    bias = stand_in((width,), dtype, 0) if bias is None else kernel_input(bias)
    input_gates, hidden = kernel_input(input_gates), kernel_input(hidden)
    outputs = (hidden_gates, new_hidden, candidate)  # hidden_gates is read, then written
    written = [kernel_output(output) for output in outputs]
    gru_step_rows(written[0], input_gates, bias, hidden, keep_rows(keep, batch), *written[1:], numbers(dtype),
                  exp_scratch(2 * hidden.size, dtype))
    copy_back(outputs, written)


def gru_step_backward_numba(grad_hidden, hidden_gates, candidate, hidden, keep, grad_input_gates, grad_hidden_gates,
                            grad_previous_hidden):
    grad_hidden, hidden_gates, candidate, hidden = (kernel_input(array) for array in
                                                    (grad_hidden, hidden_gates, candidate, hidden))
    outputs = (grad_input_gates, grad_hidden_gates, grad_previous_hidden)
    written = [kernel_output(output) for output in outputs]
    gru_step_backward_rows(grad_hidden, hidden_gates, candidate, hidden, keep_rows(keep, hidden.shape[0]), *written,
                           hidden_gates.dtype.type(1))
    copy_back(outputs, written)


gru_step = Kernel(gru_step_reference, gru_step_numba)
gru_step_backward = Kernel(gru_step_backward_reference, gru_step_backward_numba)
