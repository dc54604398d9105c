"""The LSTM step kernels (tinyattn/kernels/lstm.py) equal their NumPy references, forward and backward, in float32 and
float64, with and without padded steps; a padded step passes the state, and c's gradient, through exactly; the
kernels' sigmoid and tanh stay accurate at the edges (tanh near 0, saturated gates, an exp that overflows in NumPy).

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so these tests check both whatever the
switch (TINYATTN_NUMBA) says.

Tolerance: S.assert_fused_kernel_matches. The kernels take sigmoid and tanh from their own exp and expm1 (a few ulps
from NumPy's) and may fuse the multiply-add of c' = f c + i g, so c' may differ by an ulp of |f c| + |i g| <=
|c| + 1 (its `scale`), and the backward's gradients by a few ulps of their largest terms.
"""
import numpy as np
import pytest
from hypothesis import given, settings

import strategies as S
from tinyattn.kernels import lstm as kernels

EXAMPLES = 100


def run_forward(implementation, case, recurrent=None):
    """(activations (B, 4H), h', c', tanh(c')) from one kernel."""
    gates = (case["recurrent"] if recurrent is None else recurrent).copy()
    batch, size = case["hidden"].shape
    new_hidden, new_cell, tanh_cell = (np.empty((batch, size), gates.dtype) for _ in range(3))
    getattr(kernels.lstm_step, implementation)(gates, case["input_gates"], case["bias"], case["hidden"], case["cell"],
                                               case["keep"], new_hidden, new_cell, tanh_cell)
    return gates, new_hidden, new_cell, tanh_cell


def run_backward(implementation, case):
    """(d gates (B, 4H), d c (B, H)) from one kernel."""
    activations, cell = case["activations"], case["cell"]
    grad_gates, grad_previous_cell = np.empty_like(activations), np.empty(cell.shape, cell.dtype)
    getattr(kernels.lstm_step_backward, implementation)(
        case["grad_hidden"], case["grad_cell"], activations, cell, case["tanh_cell"], case["keep"], grad_gates,
        grad_previous_cell)
    return grad_gates, grad_previous_cell


@settings(max_examples=EXAMPLES)
@given(case=S.lstm_kernel_inputs())
def test_forward_kernel_equals_its_reference_and_writes_no_input(case):
    scales = [1.0, 1.0, 1.0 + S.largest(case["cell"]), 1.0]  # activations, h', c', tanh(c')
    S.assert_step_kernel_matches_its_reference(run_forward, case, scales, kernels)


@settings(max_examples=EXAMPLES)
@given(case=S.lstm_kernel_inputs())
def test_backward_kernel_equals_its_reference_and_writes_no_input(case):
    scale = (S.largest(case["grad_hidden"]) + S.largest(case["grad_cell"])) * (1.0 + S.largest(case["cell"]))
    S.assert_step_kernel_matches_its_reference(run_backward, case, [scale] * 2, kernels)


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_arrays_of_any_layout_in_and_out_give_the_reference_results_and_one_compilation_per_dtype(dtype):
    # Numba compiles a kernel again for each layout and writability of its arrays (2-4 s each): inputs reach it as
    # C-contiguous read-only arrays, outputs as C-contiguous writable ones (a copy, copied back, where they are not).
    rng = np.random.default_rng(0)
    batch, size = 3, 10
    h, c, dh, dc, tanh_cell = (rng.uniform(-1, 1, (batch, size)).astype(dtype) for _ in range(5))
    recurrent, input_gates = (rng.normal(size=(batch, 4 * size)).astype(dtype) for _ in range(2))
    bias, activations = rng.normal(size=4 * size).astype(dtype), rng.uniform(0.1, 0.9, (batch, 4 * size)).astype(dtype)
    keep = np.array([True, False, True])

    def run(implementation, lay, output):
        gates, new_h, new_c, new_tanh = (output(shape, dtype) for shape in [recurrent.shape] + [h.shape] * 3)
        gates[...] = recurrent  # h W_hh on entry, the activations on return
        getattr(kernels.lstm_step, implementation)(gates, lay(input_gates), lay(bias), lay(h), lay(c), lay(keep), new_h,
                                                   new_c, new_tanh)
        grad_gates, grad_c = output(recurrent.shape, dtype), output(h.shape, dtype)
        getattr(kernels.lstm_step_backward, implementation)(lay(dh), lay(dc), lay(activations), lay(c),
                                                            lay(tanh_cell), lay(keep), grad_gates, grad_c)
        return gates, new_h, new_c, new_tanh, grad_gates, grad_c

    S.assert_every_layout_gives_the_reference_results(run)
    S.assert_one_compilation_per_dtype(kernels.lstm_step_rows, kernels.lstm_step_backward_rows)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_a_padded_step_passes_the_state_and_the_cell_gradient_through_exactly(implementation, dtype):
    rng = np.random.default_rng(0)
    batch, size = 3, 9
    case = dict(recurrent=rng.normal(size=(batch, 4 * size)).astype(dtype),
                input_gates=rng.normal(size=(batch, 4 * size)).astype(dtype), bias=None,
                hidden=rng.normal(size=(batch, size)).astype(dtype), cell=rng.normal(size=(batch, size)).astype(dtype),
                keep=np.array([True, False, True]),
                activations=rng.uniform(0.1, 0.9, (batch, 4 * size)).astype(dtype),
                tanh_cell=rng.uniform(-0.9, 0.9, (batch, size)).astype(dtype),
                grad_hidden=rng.normal(size=(batch, size)).astype(dtype),
                grad_cell=rng.normal(size=(batch, size)).astype(dtype))
    _, new_hidden, new_cell, _ = run_forward(implementation, case)
    np.testing.assert_array_equal(new_hidden[1], case["hidden"][1])
    np.testing.assert_array_equal(new_cell[1], case["cell"][1])
    assert not np.array_equal(new_cell[0], case["cell"][0])  # a real step does change the state
    grad_gates, grad_previous_cell = run_backward(implementation, case)
    np.testing.assert_array_equal(grad_gates[1], 0)
    np.testing.assert_array_equal(grad_previous_cell[1], case["grad_cell"][1])
    assert np.all(grad_gates[[0, 2]] != 0)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 2e-15)])
def test_gates_and_tanh_of_the_cell_are_accurate_at_the_edges(implementation, dtype, rtol):
    # Every gate gets every edge value (h W_hh = 0, the input gates carry them); with c = 0, c' = i g.
    case, exact, sigmoid = S.edge_step_case(4, dtype)
    size = len(S.STEP_EDGES)
    gates, new_hidden, new_cell, tanh_cell = run_forward(implementation, case)
    tanh = np.tanh(exact)
    tiny = np.finfo(dtype).tiny  # results below the smallest normal number may be 0
    blocks = [slice(0, size), slice(size, 2 * size), slice(2 * size, 3 * size), slice(3 * size, None)]
    for block, want in zip(blocks, [sigmoid, sigmoid, tanh, sigmoid], strict=True):
        np.testing.assert_allclose(gates[:, block], want[:, block], rtol=rtol, atol=tiny)
    np.testing.assert_allclose(tanh_cell, np.tanh(new_cell.astype(np.float64)), rtol=rtol, atol=tiny)
    np.testing.assert_allclose(new_hidden, gates[:, 3 * size:] * tanh_cell, rtol=rtol, atol=tiny)
    assert gates[0, 2 * size + 1] != 0  # tanh(1e-7) keeps its value, not only its sign
