"""The pointwise part of an LSTM step, forward and backward (Hochreiter & Schmidhuber, 1997; the forget gate of Gers
et al., 2000): everything of a step but its matrix multiply, which stays with BLAS.

Forward. The caller writes h W_hh (B, 4H) into `gates`; the step adds the input gates x W_ih (B, 4H) and the bias
(4H,) to make the pre-activations, side by side in PyTorch's order input, forget, cell candidate, output, and then,
with the state h, c (B, H):

    i = sigmoid(gates_i)   f = sigmoid(gates_f)   g = tanh(gates_g)   o = sigmoid(gates_o)
    c' = f c + i g         h' = o tanh(c')

The activations i, f, g, o overwrite `gates` (the backward needs them, and nothing needs the pre-activations); h', c'
and tanh(c') are written to arrays the caller gives. Where `keep` (B,) is False (a padded step) the state passes
through: h' = h and c' = c (the activations are still computed, and unused). `bias` and `keep` may be None.

Backward, given d h' and d c' (the gradient of c' from outside the step, not yet including the part through h'):

    d c'_all = d c' + d h' o (1 - tanh(c')^2)
    d gates_i = d c'_all g i (1 - i)        d gates_f = d c'_all c f (1 - f)
    d gates_g = d c'_all i (1 - g^2)        d gates_o = d h' tanh(c') o (1 - o)
    d c = d c'_all f

At a padded step the gates' gradients are 0 and d c = d c'. The gradient of h (d gates W_hh^T) is the caller's
matrix multiply.

The NumPy references come first. The Numba kernels follow: one pass over each row of the batch while it sits in
cache, where NumPy makes a pass over the whole array for every operation; their sigmoid and tanh come from one
vectorised exp and expm1 (see ``exp_expm1_row``), since np.exp in a Numba loop is a scalar call that does not
vectorise (tinyattn/kernels/exp.py).
"""
import numpy as np

from tinyattn.kernels.exp import copy_back, exp_scratch, kernel_input, kernel_output, numbers, stable_sigmoid, stand_in
from tinyattn.kernels.switch import Kernel, jit

# ----- NumPy references -------------------------------------------------------------------------------------


def lstm_step_reference(gates, input_gates, bias, hidden, cell, keep, new_hidden, new_cell, tanh_cell):
    """One step's pointwise part, in place: gates (B, 4H) hold h W_hh on entry and the activations i, f, g, o on
    return; writes h', c' and tanh(c') (B, H)."""
    size = cell.shape[1]
    gates += input_gates
    if bias is not None:
        gates += bias
    input_forget, candidate, output = gates[:, :2 * size], gates[:, 2 * size:3 * size], gates[:, 3 * size:]
    input_forget[...] = stable_sigmoid(input_forget)  # i and f side by side
    np.tanh(candidate, out=candidate)
    output[...] = stable_sigmoid(output)
    input_gate, forget = input_forget[:, :size], input_forget[:, size:]
    np.multiply(forget, cell, out=new_cell)
    new_cell += input_gate * candidate  # c' = f c + i g
    np.tanh(new_cell, out=tanh_cell)
    np.multiply(output, tanh_cell, out=new_hidden)  # h' = o tanh(c')
    if keep is not None:  # a padded step leaves the state as it was
        np.copyto(new_hidden, hidden, where=~keep[:, None])
        np.copyto(new_cell, cell, where=~keep[:, None])


def lstm_step_backward_reference(grad_hidden, grad_cell, gates, cell, tanh_cell, keep, grad_gates, grad_previous_cell):
    """One step's pointwise backward: writes the gates' gradient (B, 4H, pre-activation) and d c (B, H) from d h',
    d c' (B, H), the activations `gates` (B, 4H), the previous cell c and tanh(c')."""
    size = cell.shape[1]
    input_forget, candidate, output = gates[:, :2 * size], gates[:, 2 * size:3 * size], gates[:, 3 * size:]
    input_gate, forget = input_forget[:, :size], input_forget[:, size:]
    grad_new_cell = grad_cell + grad_hidden * output * (1 - tanh_cell * tanh_cell)  # the part through h' included
    # c' = f c + i g:  d i = d c' g,  d f = d c' c;  then sigmoid' = s (1 - s) for i and f at once
    np.multiply(grad_new_cell, candidate, out=grad_gates[:, :size])
    np.multiply(grad_new_cell, cell, out=grad_gates[:, size:2 * size])
    grad_gates[:, :2 * size] *= input_forget * (1 - input_forget)
    grad_gates[:, 2 * size:3 * size] = grad_new_cell * input_gate * (1 - candidate * candidate)  # tanh' = 1 - g^2
    grad_gates[:, 3 * size:] = grad_hidden * tanh_cell * output * (1 - output)
    np.multiply(grad_new_cell, forget, out=grad_previous_cell)
    if keep is not None:  # a padded step: no gradient for its gates; c's gradient passes through
        grad_gates[~keep] = 0
        np.copyto(grad_previous_cell, grad_cell, where=~keep[:, None])


# ----- Numba kernels ------------------------------------------------------------------------------------------
# The loops have no reductions, so they vectorise without reassociation, which could undo the careful order of
# exp_expm1_row's last sums; 'contract' (fused multiply-add) alone halves the instructions of its polynomial.
# error_model="numpy" lets a division give inf or NaN instead of raising ZeroDivisionError: the check Python's
# semantics need is a branch that stops a loop with a division from vectorising (measured: 8x slower sigmoids).
CONTRACT = {"contract"}


@jit(fastmath=CONTRACT)
def exp_expm1_row(args, exps, expm1s, numbers, bits):
    """exps[j] = exp(args[j]) and expm1s[j] = exp(args[j]) - 1 for a 1-D row of args <= 0, both accurate.

    As in exp.py: args = n ln 2 + r, |r| <= ln(2) / 2, expm1(r) by its Taylor polynomial without the constant term,
    2**n from its exponent bits (0 below the smallest normal number). Then

        exp = 2**n expm1(r) + 2**n            expm1 = 2**n expm1(r) + (2**n - 1)

    where 2**n - 1 is exact, so expm1 keeps its relative precision near 0 (n = 0 there), which tanh needs. The bits
    are written and read back as a float in the same pass (a third faster than exp.py's two passes, measured).
    """
    powers = bits.view(args.dtype)
    for j in range(args.shape[0]):
        x = args[j]
        above = x > numbers.exp_low
        x = max(x, numbers.exp_low)
        n = np.floor(x * numbers.inv_ln2 + numbers.half)
        r = (x - n * numbers.ln2_high) - n * numbers.ln2_low
        poly = numbers.taylor[0]
        for k in range(1, len(numbers.taylor) - 1):  # down to the coefficient of r, 1
            poly = poly * r + numbers.taylor[k]
        bits[j] = (n + numbers.exponent_bias) * numbers.exponent_unit if above else numbers.zero
        power = powers[j]
        scaled = power * (poly * r)
        exps[j] = scaled + power
        expm1s[j] = scaled + (power - numbers.one)


@jit(error_model="numpy")
def sigmoid_from_exp(z, e, one):
    """sigmoid(z) from e = exp(-|z|): 1 / (1 + e) for z >= 0, e / (1 + e) below (no exp overflows)."""
    return (one if z >= 0 else e) / (one + e)


@jit(error_model="numpy")
def tanh_from_expm1(z, m, two):
    """tanh(z) from m = expm1(-2 |z|): sign(z) (-m) / (2 + m), accurate near 0 where m is."""
    magnitude = -m / (two + m)
    return magnitude if z >= 0 else -magnitude


@jit(error_model="numpy")
def sigmoid_row(values, exps, one):
    """values[j] = sigmoid(values[j]), given exps[j] = exp(-|values[j]|)."""
    for j in range(values.shape[0]):
        values[j] = sigmoid_from_exp(values[j], exps[j], one)


@jit(error_model="numpy")
def tanh_row(values, expm1s, two):
    """values[j] = tanh(values[j]), given expm1s[j] = expm1(-2 |values[j]|)."""
    for j in range(values.shape[0]):
        values[j] = tanh_from_expm1(values[j], expm1s[j], two)


# Each loop below runs over one row of the batch (or one gate of it), from index 0, with one array written, or two:
# LLVM vectorises such a loop after a few run-time checks that its arrays do not overlap. It does not vectorise a loop
# that writes row[j] and reads row[2 * H + j] of the same array (a dependence at a distance it cannot know), nor one
# with more arrays than its limit of run-time checks; both were 5-10x slower here.
@jit(fastmath=CONTRACT, error_model="numpy")
def lstm_step_rows(gates, input_gates, bias, hidden, cell, keep, new_hidden, new_cell, tanh_cell, numbers, bits):
    """The forward: the gates row by row, then tanh(c') of the whole batch at once (a call of exp_expm1_row on a
    short row costs about as much as on a long one). `bits` is exp_scratch of max(4H, B H) integers."""
    batch, size = cell.shape
    one = numbers.one
    two = one + one
    args, exps, expm1s = np.empty(4 * size, gates.dtype), np.empty(4 * size, gates.dtype), np.empty(4 * size,
                                                                                                     gates.dtype)
    cell_args, cell_exps, cell_expm1s = (np.empty((batch, size), gates.dtype), np.empty(batch * size, gates.dtype),
                                         np.empty(batch * size, gates.dtype))
    for b in range(batch):
        row, inputs = gates[b], input_gates[b]  # (4H,): i, f, g, o side by side
        for j in range(4 * size):
            row[j] += inputs[j]  # in the reference's order: h W_hh + x W_ih, then + b
            row[j] += bias[j]
            args[j] = -abs(row[j])
        candidate_args = args[2 * size:3 * size]
        for j in range(size):  # the candidate's tanh takes expm1(-2 |z|)
            candidate_args[j] += candidate_args[j]
        exp_expm1_row(args, exps, expm1s, numbers, bits)
        input_forget, candidate, output = row[:2 * size], row[2 * size:3 * size], row[3 * size:]
        sigmoid_row(input_forget, exps[:2 * size], one)
        tanh_row(candidate, expm1s[2 * size:3 * size], two)
        sigmoid_row(output, exps[3 * size:], one)
        input_gate, forget = row[:size], row[size:2 * size]
        updated, updated_args = new_cell[b], cell_args[b]
        for j in range(size):
            updated[j] = forget[j] * cell[b, j] + input_gate[j] * candidate[j]  # c' = f c + i g
        for j in range(size):
            updated_args[j] = -(abs(updated[j]) + abs(updated[j]))
    exp_expm1_row(cell_args.reshape(batch * size), cell_exps, cell_expm1s, numbers, bits)
    for b in range(batch):
        updated, squashed, hidden_out, output = new_cell[b], tanh_cell[b], new_hidden[b], gates[b, 3 * size:]
        for j in range(size):
            squashed[j] = updated[j]
        tanh_row(squashed, cell_expm1s[b * size:(b + 1) * size], two)
        for j in range(size):
            hidden_out[j] = output[j] * squashed[j]  # h' = o tanh(c')
        if not keep[b]:  # a padded step leaves the state as it was
            for j in range(size):
                hidden_out[j] = hidden[b, j]
                updated[j] = cell[b, j]


@jit(fastmath=CONTRACT)
def lstm_step_backward_rows(grad_hidden, grad_cell, gates, cell, tanh_cell, keep, grad_gates, grad_previous_cell,
                            one):
    size = cell.shape[1]
    for b in range(gates.shape[0]):
        grads, grad_previous = grad_gates[b], grad_previous_cell[b]
        if not keep[b]:  # a padded step: no gradient for its gates; c's gradient passes through
            for j in range(4 * size):
                grads[j] = one - one
            for j in range(size):
                grad_previous[j] = grad_cell[b, j]
            continue
        row, squashed, grad_out = gates[b], tanh_cell[b], grad_hidden[b]
        input_gate, forget, candidate, output = row[:size], row[size:2 * size], row[2 * size:3 * size], row[3 * size:]
        grad_new_cell = grad_previous  # d c'_all, until the last loop makes it d c
        for j in range(size):
            grad_new_cell[j] = grad_cell[b, j] + grad_out[j] * output[j] * (one - squashed[j] * squashed[j])
        grad_input, grad_forget = grads[:size], grads[size:2 * size]
        grad_candidate, grad_output = grads[2 * size:3 * size], grads[3 * size:]
        for j in range(size):
            grad_input[j] = grad_new_cell[j] * candidate[j] * input_gate[j] * (one - input_gate[j])
        for j in range(size):
            grad_forget[j] = grad_new_cell[j] * cell[b, j] * forget[j] * (one - forget[j])
        for j in range(size):
            grad_candidate[j] = grad_new_cell[j] * input_gate[j] * (one - candidate[j] * candidate[j])
        for j in range(size):
            grad_output[j] = grad_out[j] * squashed[j] * output[j] * (one - output[j])
        for j in range(size):
            grad_previous[j] = grad_new_cell[j] * forget[j]


def keep_rows(keep, batch):
    """`keep` as a kernel input, or all True (no padding) when it is None."""
    return stand_in((batch,), np.bool_, True) if keep is None else kernel_input(keep)


def lstm_step_numba(gates, input_gates, bias, hidden, cell, keep, new_hidden, new_cell, tanh_cell):
    dtype, (batch, width) = gates.dtype, gates.shape
    bias = stand_in((width,), dtype, 0) if bias is None else kernel_input(bias)
    input_gates, hidden, cell = (kernel_input(array) for array in (input_gates, hidden, cell))
    outputs = (gates, new_hidden, new_cell, tanh_cell)  # gates is read, then written
    written = [kernel_output(output) for output in outputs]
    lstm_step_rows(written[0], input_gates, bias, hidden, cell, keep_rows(keep, batch), *written[1:], numbers(dtype),
                   exp_scratch(max(width, cell.size), dtype))
    copy_back(outputs, written)


def lstm_step_backward_numba(grad_hidden, grad_cell, gates, cell, tanh_cell, keep, grad_gates, grad_previous_cell):
    grad_hidden, grad_cell, gates, cell, tanh_cell = (kernel_input(array) for array in
                                                      (grad_hidden, grad_cell, gates, cell, tanh_cell))
    outputs = (grad_gates, grad_previous_cell)
    written = [kernel_output(output) for output in outputs]
    lstm_step_backward_rows(grad_hidden, grad_cell, gates, cell, tanh_cell, keep_rows(keep, gates.shape[0]), *written,
                            gates.dtype.type(1))
    copy_back(outputs, written)


lstm_step = Kernel(lstm_step_reference, lstm_step_numba)
lstm_step_backward = Kernel(lstm_step_backward_reference, lstm_step_backward_numba)
