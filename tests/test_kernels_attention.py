"""The fused attention kernel (tinyattn.kernels.attention): its Numba steps equal its NumPy reference, and the fused
path of F.scaled_dot_product_attention equals the unfused one (output and all three gradients) on generated shapes
and every mask combination, with blocks small enough to split the rows unevenly. Its memory stays O(T * D).

The gradients of the op itself are checked against finite differences in tests/test_op_gradients.py.
"""
import contextlib
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn.kernels import attention as kernels


@st.composite
def kernel_inputs(draw, dtype):
    heads, queries, keys = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size, value_size = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q, k = (rng.normal(size=(heads, length, size)).astype(dtype) for length in (queries, keys))
    v = rng.normal(size=(heads, keys, value_size)).astype(dtype)
    grad = rng.normal(size=(heads, queries, value_size)).astype(dtype)
    bias = None
    if draw(st.booleans()):
        bias = np.where(rng.random((heads, queries, keys)) < 0.3, -np.inf, rng.normal(size=(heads, queries, keys)))
        bias[:, rng.integers(queries)] = -np.inf  # a row with no key
        bias = bias.astype(dtype)
    return q, k, v, grad, bias, draw(st.booleans()), draw(st.integers(1, 10))


@contextlib.contextmanager
def kernel_setting(name, value):
    """tinyattn.kernels.attention's module constant `name` (BLOCK, PARALLEL_SCORES) set to `value` inside the
    with-block: Hypothesis draws it, so a pytest fixture (reset once per test, not per example) will not do."""
    saved = getattr(kernels, name)
    setattr(kernels, name, value)
    try:
        yield
    finally:
        setattr(kernels, name, saved)


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-5)])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), threaded=st.booleans())
def test_the_numba_steps_equal_the_numpy_reference(dtype, tolerance, data, threaded):
    # Threaded: one head's key blocks shared between workers (a dq each), or whole groups of heads per worker.
    q, k, v, grad, bias, causal, block = data.draw(kernel_inputs(dtype))
    out, lse = kernels.forward_reference(q, k, v, 0.7, causal, bias, block)
    # PARALLEL_SCORES 0: blocks shared between threads whenever threads are available.
    with kernel_setting("PARALLEL_SCORES", 0 if threaded else kernels.PARALLEL_SCORES):
        fast_out, fast_lse = kernels.forward_numba(q, k, v, 0.7, causal, bias, block)
        fast_grads = kernels.backward_numba(q, k, v, out, lse, grad, 0.7, causal, bias, block)
    np.testing.assert_allclose(fast_out, out, rtol=tolerance, atol=tolerance)
    np.testing.assert_array_equal(np.isneginf(fast_lse), np.isneginf(lse))  # the rows with no key
    finite = np.isfinite(lse)
    np.testing.assert_allclose(fast_lse[finite], lse[finite], rtol=tolerance, atol=tolerance)
    expected = kernels.backward_reference(q, k, v, out, lse, grad, 0.7, causal, bias, block)
    for name, got, want in zip("qkv", fast_grads, expected, strict=True):
        assert got.dtype == dtype, name
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=f"d{name}")
    S.assert_module_compiled_once_per_dtype(kernels)  # whatever layouts this example's arrays had


MASK_KINDS = ["none", "causal", "key padding", "boolean", "additive", "causal + key padding", "empty rows"]


@st.composite
def attention_problem(draw):
    """Inputs (B, H, T, D) for scaled_dot_product_attention and one of MASK_KINDS."""
    batch, heads = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    queries, keys = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    size = draw(st.sampled_from([1, 2, 3, 8, 64, 128]))
    value_size = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.normal(size=(batch, heads, queries, size))
    k = rng.normal(size=(batch, heads, keys, size))
    v = rng.normal(size=(batch, heads, keys, value_size))
    kind = draw(st.sampled_from(MASK_KINDS))
    mask, causal = None, "causal" in kind
    padding = rng.random((batch, 1, 1, keys)) < 0.7
    padding[..., 0] = True  # every sequence keeps a key
    if "key padding" in kind:
        mask = padding
    elif kind == "boolean":
        mask = rng.random((queries, keys)) < 0.6
    elif kind == "additive":
        mask = np.where(rng.random((batch, heads, queries, keys)) < 0.3, -np.inf, rng.normal(size=(queries, keys)))
    elif kind == "empty rows":
        mask = rng.random((batch, 1, queries, keys)) < 0.6
        mask[:, :, rng.integers(queries)] = False
    return q, k, v, mask, causal, rng.normal(size=(batch, heads, queries, value_size))


def _attention(q, k, v, mask, causal, grad, fused, dtype):
    tensors = [ta.tensor(array.astype(dtype), requires_grad=True) for array in (q, k, v)]
    output = F.scaled_dot_product_attention(*tensors, mask=mask, is_causal=causal, return_weights=not fused)
    output = output if fused else output[0]
    (output * grad.astype(dtype)).sum().backward()
    return [output.data] + [tensor.grad for tensor in tensors]


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-10), (np.float32, 2e-5)])
@settings(max_examples=80, deadline=None)
@given(problem=attention_problem(), block=st.integers(1, 5))
def test_the_fused_path_equals_the_unfused_one_for_every_mask(dtype, tolerance, problem, block):
    with kernel_setting("BLOCK", block):  # the default block is larger than these inputs
        fused = _attention(*problem, fused=True, dtype=dtype)
    unfused = _attention(*problem, fused=False, dtype=dtype)
    for name, got, want in zip(["output", "dq", "dk", "dv"], fused, unfused, strict=True):
        assert np.all(np.isfinite(got)), name
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=name)


def test_a_query_with_no_key_gets_zeros_and_zero_gradients_and_nan_padding_stays_out():
    rng = np.random.default_rng(0)
    q, k, v = (ta.tensor(rng.normal(size=(1, 3, 4)), requires_grad=True) for _ in range(3))
    k.data[0, 2] = v.data[0, 2] = np.nan  # a padded key, hidden from every query
    mask = np.array([[True, True, False], [False, False, False], [True, False, False]])
    output = F.scaled_dot_product_attention(q, k, v, mask=mask)
    output.sum().backward()
    assert np.all(output.data[0, 1] == 0) and np.all(q.grad[0, 1] == 0)
    assert all(np.all(np.isfinite(tensor.grad)) for tensor in (q, k, v)) and np.all(np.isfinite(output.data))
    assert np.all(k.grad[0, 2] == 0) and np.all(v.grad[0, 2] == 0)


def test_causal_with_more_queries_than_keys_leaves_the_first_queries_empty():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(5, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    output = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    expected, _ = F.scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    assert np.all(output.data[:2] == 0)
    np.testing.assert_allclose(output.data, expected.data, atol=1e-12)


def test_the_fused_path_never_holds_the_score_matrix():
    # T = 4096 in float32: the (T, T) weights alone would be 64 MiB, twice that with their gradient. The fused path's
    # largest allocations are two blocks of scores per thread (512 x 512 x 4 bytes = 1 MiB each) and O(T * D) arrays.
    length, size = 4096, 16
    rng = np.random.default_rng(0)
    q, k, v = (ta.tensor(rng.normal(size=(1, length, size)).astype(np.float32), requires_grad=True) for _ in range(3))
    F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()  # compile and warm up first
    tracemalloc.start()
    try:
        F.scaled_dot_product_attention(q, k, v, is_causal=True).sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_asking_for_weights_or_dropout_takes_the_unfused_path(monkeypatch):
    calls = []
    original = kernels.attention_forward
    monkeypatch.setattr(kernels, "attention_forward", lambda *args: calls.append(1) or original(*args))
    q = np.ones((2, 3, 4))
    F.scaled_dot_product_attention(q, q, q)
    assert calls == [1]
    F.scaled_dot_product_attention(q, q, q, return_weights=True)
    F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, rng=0)
    assert calls == [1]


def test_the_gradient_strategy_draws_every_kind_of_input():
    # The op's gradient row (tests/test_op_gradients.py) relies on this strategy reaching causal, masked, broadcast
    # and blocked cases; find() fails if one of them cannot be drawn.
    from hypothesis import find

    find(S.fused_attention_inputs(), lambda case: case.params["causal"] and case.params["bias"] is not None
         and np.isneginf(case.params["bias"]).all(axis=-1).any() and case.params["block"] < case.arrays[0].shape[-2]
         and case.arrays[0].ndim > 2 and case.arrays[0].shape[:-2] != case.arrays[1].shape[:-2])
