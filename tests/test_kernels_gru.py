"""The GRU step kernels (tinyattn/kernels/gru.py) equal their NumPy references, forward and backward, in float32 and
float64, with and without padded steps; a padded step passes the state, and its gradient, through exactly; the
kernels' sigmoid and tanh stay accurate at the edges (tanh near 0, saturated gates, an exp that overflows in NumPy).

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so these tests check both whatever the
switch (TINYATTN_NUMBA) says.

Tolerance: S.assert_fused_kernel_matches, as for the LSTM (tests/test_kernels_lstm.py). The kernels take sigmoid and
tanh from their own exp and expm1 and may fuse multiply-adds, so n's argument x_n + r h_n may differ by an ulp of
|x_n| + |h_n| (and n and h' by as much, h' also by an ulp of |h|), and the backward's gradients by a few ulps of their
largest terms.
"""
import numpy as np
import pytest
from hypothesis import given, settings

import strategies as S
from tinyattn.kernels import gru as kernels

EXAMPLES = 100


def run_forward(implementation, case):
    """(hidden gates (B, 3H): r, z, h W_hn + b_hn; h'; n) from one kernel."""
    hidden_gates = case["recurrent"].copy()
    new_hidden, candidate = (np.empty(case["hidden"].shape, hidden_gates.dtype) for _ in range(2))
    getattr(kernels.gru_step, implementation)(hidden_gates, case["input_gates"], case["bias"], case["hidden"],
                                              case["keep"], new_hidden, candidate)
    return hidden_gates, new_hidden, candidate


def run_backward(implementation, case):
    """(d input gates (B, 3H), d hidden gates (B, 3H), d h direct (B, H)) from one kernel."""
    gates, hidden = case["gates"], case["hidden"]
    grads = np.empty_like(gates), np.empty_like(gates), np.empty(hidden.shape, hidden.dtype)
    getattr(kernels.gru_step_backward, implementation)(case["grad_hidden"], gates, case["candidate"], hidden,
                                                       case["keep"], *grads)
    return grads


@settings(max_examples=EXAMPLES)
@given(case=S.gru_kernel_inputs())
def test_forward_kernel_equals_its_reference_and_writes_no_input(case):
    bias = 0.0 if case["bias"] is None else S.largest(case["bias"])
    candidate_scale = 1.0 + S.largest(case["input_gates"]) + S.largest(case["recurrent"]) + bias
    scales = [1.0 + S.largest(case["recurrent"]) + bias, candidate_scale + S.largest(case["hidden"]), candidate_scale]
    S.assert_step_kernel_matches_its_reference(run_forward, case, scales, kernels)


@settings(max_examples=EXAMPLES)
@given(case=S.gru_kernel_inputs())
def test_backward_kernel_equals_its_reference_and_writes_no_input(case):
    scale = S.largest(case["grad_hidden"]) * (1.0 + S.largest(case["gates"]) + S.largest(case["hidden"]))
    S.assert_step_kernel_matches_its_reference(run_backward, case, [scale] * 3, kernels)


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_arrays_of_any_layout_in_and_out_give_the_reference_results_and_one_compilation_per_dtype(dtype):
    # As for the LSTM kernels: one form of each array reaches Numba (exp.kernel_input, exp.kernel_output).
    rng = np.random.default_rng(0)
    batch, size = 3, 10
    h, dh, candidate = (rng.uniform(-1, 1, (batch, size)).astype(dtype) for _ in range(3))
    recurrent, input_gates = (rng.normal(size=(batch, 3 * size)).astype(dtype) for _ in range(2))
    bias, gates = rng.normal(size=3 * size).astype(dtype), rng.uniform(0.1, 0.9, (batch, 3 * size)).astype(dtype)
    keep = np.array([True, False, True])

    def run(implementation, lay, output):
        hidden_gates, new_h, new_candidate = (output(shape, dtype) for shape in [recurrent.shape] + [h.shape] * 2)
        hidden_gates[...] = recurrent  # h W_hh on entry, r, z and h W_hn + b_hn on return
        getattr(kernels.gru_step, implementation)(hidden_gates, lay(input_gates), lay(bias), lay(h), lay(keep), new_h,
                                                  new_candidate)
        grads = output(gates.shape, dtype), output(gates.shape, dtype), output(h.shape, dtype)
        getattr(kernels.gru_step_backward, implementation)(lay(dh), lay(gates), lay(candidate), lay(h), lay(keep),
                                                           *grads)
        return (hidden_gates, new_h, new_candidate, *grads)

    S.assert_every_layout_gives_the_reference_results(run)
    S.assert_one_compilation_per_dtype(kernels.gru_step_rows, kernels.gru_step_backward_rows)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_a_padded_step_passes_the_state_and_its_gradient_through_exactly(implementation, dtype):
    rng = np.random.default_rng(0)
    batch, size = 3, 9
    case = dict(recurrent=rng.normal(size=(batch, 3 * size)).astype(dtype),
                input_gates=rng.normal(size=(batch, 3 * size)).astype(dtype),
                bias=rng.normal(size=3 * size).astype(dtype),
                hidden=rng.normal(size=(batch, size)).astype(dtype), keep=np.array([True, False, True]),
                gates=np.concatenate([rng.uniform(0.1, 0.9, (batch, 2 * size)), rng.normal(size=(batch, size))],
                                     axis=1).astype(dtype),
                candidate=rng.uniform(-0.9, 0.9, (batch, size)).astype(dtype),
                grad_hidden=rng.normal(size=(batch, size)).astype(dtype))
    _, new_hidden, _ = run_forward(implementation, case)
    np.testing.assert_array_equal(new_hidden[1], case["hidden"][1])
    assert not np.array_equal(new_hidden[0], case["hidden"][0])  # a real step does change the state
    grad_input_gates, grad_hidden_gates, grad_previous_hidden = run_backward(implementation, case)
    np.testing.assert_array_equal(grad_input_gates[1], 0)
    np.testing.assert_array_equal(grad_hidden_gates[1], 0)
    np.testing.assert_array_equal(grad_previous_hidden[1], case["grad_hidden"][1])
    assert np.all(grad_input_gates[[0, 2]] != 0) and np.all(grad_hidden_gates[[0, 2]] != 0)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-6), (np.float64, 2e-15)])
def test_gates_and_candidate_are_accurate_at_the_edges(implementation, dtype, rtol):
    # Every gate gets every edge value (h W_hh = 0, so n = tanh(x_n); the input gates carry them); with h = 0,
    # h' = (1 - z) n.
    case, exact, sigmoid = S.edge_step_case(3, dtype)
    size = len(S.STEP_EDGES)
    gates, new_hidden, candidate = run_forward(implementation, case)
    tiny = np.finfo(dtype).tiny  # results below the smallest normal number may be 0
    np.testing.assert_allclose(gates[:, :2 * size], sigmoid[:, :2 * size], rtol=rtol, atol=tiny)
    np.testing.assert_array_equal(gates[:, 2 * size:], 0)
    np.testing.assert_allclose(candidate, np.tanh(exact[:, 2 * size:]), rtol=rtol, atol=tiny)
    # n - z n, within an ulp of |n| <= 1 (it cancels where z is near 1)
    np.testing.assert_allclose(new_hidden, (1 - gates[:, size:2 * size].astype(np.float64)) * candidate,
                               rtol=rtol, atol=rtol)
    assert candidate[0, 1] != 0  # tanh(1e-7) keeps its value, not only its sign
