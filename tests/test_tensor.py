"""The Tensor and the backward walk: construction, gradient mode, accumulation, graph freeing, depth, memory."""
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, GraphError, ShapeError


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ----- construction and array behaviour ---------------------------------------------------------------

def test_tensor_exposes_its_array_and_shape_attributes():
    x = ta.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert isinstance(x.data, np.ndarray)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.dtype == np.float64
    assert x.T.shape == (3, 2)
    np.testing.assert_array_equal(x.numpy(), x.data)
    np.testing.assert_array_equal(np.asarray(x), x.data)
    assert x[1, 2].item() == 6.0
    assert len(x) == 2
    assert [row.shape for row in x] == [(3,), (3,)]
    assert x.grad is None and not x.requires_grad and x.is_leaf


def test_tensor_copies_its_data_so_in_place_updates_leave_the_caller_array_alone():
    array = np.zeros(3)
    x = ta.tensor(array, requires_grad=True)
    x.data -= 1.0
    np.testing.assert_array_equal(array, np.zeros(3))
    assert x.detach().data is x.data  # detach shares


def test_tensor_dtype_argument_converts():
    assert ta.tensor([1, 2], dtype=np.float32).dtype == np.float32


def test_repr_shows_values_and_how_the_tensor_was_made():
    x = leaf([1.0, 2.0])
    assert "1." in repr(x) and "requires_grad=True" in repr(x)
    assert "op=mul" in repr(x * 2.0)
    assert "float32" in repr(ta.tensor([1.0], dtype=np.float32))


@pytest.mark.parametrize("data", [[1, 2, 3], [True, False]])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(DTypeError, match="floating-point"):
        ta.tensor(data, requires_grad=True)
    x = ta.tensor(data)
    with pytest.raises(DTypeError):
        x.requires_grad = True


def test_object_data_is_refused():
    with pytest.raises(DTypeError, match="object"):
        ta.tensor([object()])


def test_ndarray_and_scalars_mix_with_tensors_on_either_side():
    x = leaf([1.0, 2.0, 3.0])
    array = np.array([2.0, 2.0, 2.0])
    for out in (array + x, x + array, 2.0 * x, x * 2.0, 1.0 - x, array / x, 2.0**x, array @ x):
        assert isinstance(out, ta.Tensor) and out.requires_grad
    np.testing.assert_allclose((array - x).data, [1.0, 0.0, -1.0])
    np.testing.assert_allclose((6.0 / x).data, [6.0, 3.0, 2.0])


def test_python_scalar_does_not_widen_float32():
    x = leaf([1.0, 2.0], dtype=np.float32)
    for out in (x * 2.0, 2.0 + x, x / 3, x**2, 1.0 - x):
        assert out.dtype == np.float32


def test_gradient_has_the_input_dtype_when_numpy_promotes_the_output():
    x = leaf([1.0, 2.0], dtype=np.float32)
    out = x * np.array([3.0, 4.0])  # a float64 array promotes the product to float64
    assert out.dtype == np.float64
    out.backward(np.ones(2))
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_broadcast_gradients_are_summed_back_to_each_input_shape():
    row = leaf(np.arange(3.0).reshape(1, 3))
    column = leaf(np.arange(2.0).reshape(2, 1))
    (row * column).backward(np.ones((2, 3)))
    np.testing.assert_allclose(row.grad, [[1.0, 1.0, 1.0]])  # sum over the column values 0 + 1
    np.testing.assert_allclose(column.grad, [[3.0], [3.0]])  # sum over the row values 0 + 1 + 2


def test_comparisons_give_boolean_tensors_without_grad():
    x = leaf([1.0, 2.0, 3.0])
    mask = x > 1.5
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.data, [False, True, True])
    np.testing.assert_array_equal((~mask).data, [True, False, False])
    np.testing.assert_array_equal((x == 2.0).data, [False, True, False])


# ----- gradient mode ----------------------------------------------------------------------------------

def test_no_grad_records_nothing_and_enable_grad_turns_it_back_on():
    x = leaf([1.0, 2.0])
    with ta.no_grad():
        assert not ta.is_grad_enabled()
        y = x * 2.0
        with ta.enable_grad():
            z = x * 2.0
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf
    assert ta.is_grad_enabled()


def test_no_grad_as_decorator_restores_the_mode_even_after_an_exception():
    @ta.no_grad()
    def failing(x):
        assert not ta.is_grad_enabled()
        raise RuntimeError("inside")

    with pytest.raises(RuntimeError):
        failing(leaf([1.0]))
    assert ta.is_grad_enabled()

    @ta.no_grad()
    def recursive(x, depth):
        return x * 1.0 if depth == 0 else recursive(x, depth - 1)

    assert not recursive(leaf([1.0]), 3).requires_grad
    assert ta.is_grad_enabled()


def test_no_grad_is_thread_local():
    seen = []
    ready, done = threading.Event(), threading.Event()

    def other_thread():
        ready.wait()
        seen.append(ta.is_grad_enabled())
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with ta.no_grad():
        ready.set()
        done.wait(5)
    thread.join()
    assert seen == [True]


# ----- backward -----------------------------------------------------------------------------------------

def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    x.zero_grad()
    assert x.grad is None


def test_second_backward_through_a_freed_graph_says_to_retain_it():
    x = leaf([1.0, 2.0])
    loss = (x.exp() * 2.0).sum()
    loss.backward()
    with pytest.raises(GraphError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * (2 * x.data))


def test_a_shared_subgraph_receives_gradient_from_every_consumer():
    x = leaf([0.5, -1.0])
    hidden = x.tanh()
    (hidden * 2.0 + hidden * hidden).sum().backward()
    tanh = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, (2.0 + 2 * tanh) * (1 - tanh**2))


def test_backward_without_grad_on_a_non_scalar_says_what_to_do():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(GraphError, match=r"shape \(2, 3\).*grad="):
        (x * 2.0).backward()


def test_backward_with_a_wrongly_shaped_grad_names_both_shapes():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_a_tensor_that_does_not_require_grad_is_an_error():
    with pytest.raises(GraphError, match="does not require grad"):
        ta.tensor([1.0]).backward()


def test_backward_on_a_leaf_sets_its_gradient():
    x = leaf([3.0])
    x.backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    hidden = (x * 3.0).retain_grad()
    (hidden * hidden).sum().backward()
    np.testing.assert_allclose(hidden.grad, 2 * hidden.data)
    assert (x * 3.0).grad is None


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0])
    (x.detach() * x).sum().backward()
    np.testing.assert_allclose(x.grad, x.data)  # only the second factor is differentiated


def test_a_chain_of_100000_ops_backpropagates_without_recursion_errors():
    x = leaf([1.0])
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward(np.ones(1))
    np.testing.assert_allclose(x.grad, [1.00001**100_000], rtol=1e-9)


def test_backward_frees_the_graph_so_intermediates_are_released_without_gc():
    gc.disable()
    try:
        x = leaf(np.ones(4))
        hidden = x.exp()
        watcher = weakref.ref(hidden)
        loss = (hidden * 2.0).sum()
        del hidden
        assert watcher() is not None  # the graph holds it until backward
        loss.backward()
        assert watcher() is None
    finally:
        gc.enable()


def _resident_kib():
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_10000_training_steps_do_not_grow_memory():
    rng = np.random.default_rng(0)
    weights = ta.tensor(rng.standard_normal((8, 4)), requires_grad=True)
    inputs = rng.standard_normal((16, 8))

    def step():
        scores = ta.tensor(inputs) @ weights
        loss = (F.log_softmax(scores) * -1.0).mean()
        loss.backward()
        weights.data -= 0.001 * weights.grad
        weights.grad = None

    gc.disable()  # the engine makes no reference cycles: memory must stay flat without the collector
    try:
        for _ in range(500):
            step()
        before = _resident_kib()
        for _ in range(10_000):
            step()
        grown = _resident_kib() - before
    finally:
        gc.enable()
    assert grown < 4 * 1024, f"resident memory grew by {grown} KiB over 10,000 steps"


# ----- user-defined primitives -----------------------------------------------------------------------

@ta.primitive
def cube(x):
    """x ** 3 (an example of a user-defined op)."""
    out = x**3
    return out, lambda grad: grad * 3 * x**2


@ta.primitive(n_inputs=1)
def scaled_shift(x, scale, shift=0.0):
    return x * scale + shift, lambda grad: grad * scale


def test_a_user_defined_primitive_is_differentiated_and_registered():
    x = leaf([0.5, -1.5, 2.0])
    assert ta.gradcheck(cube, x)
    assert ta.gradcheck(lambda x: scaled_shift(x, 3.0, shift=1.0), x)
    np.testing.assert_allclose(scaled_shift(x, 3.0, shift=1.0).data, x.data * 3 + 1)
    assert ta.REGISTRY["cube"] is cube and cube.__doc__.startswith("x ** 3")


def test_array_inputs_may_be_passed_by_keyword():
    x = leaf([1.0, 2.0])
    np.testing.assert_allclose(F.power(x, exponent=2).data, [1.0, 4.0])
    np.testing.assert_allclose(F.where(condition=x.data > 1.5, a=x, b=0.0).data, [0.0, 2.0])
    with pytest.raises(TypeError, match="where.*'b'"):
        F.where(x.data > 1.5, x)


def test_a_primitive_with_the_wrong_number_of_vjps_is_reported():
    @ta.primitive(name="broken_pair")
    def broken_pair(a, b):
        return a + b, lambda grad: grad

    with pytest.raises(ta.OpError, match="1 VJPs for 2 inputs"):
        broken_pair(leaf([1.0]), leaf([2.0]))


def test_a_non_differentiable_input_that_requires_grad_is_refused():
    x = leaf([1.0, 2.0])
    F.where(leaf([1.0, 0.0]) > 0.5, x, x)  # fine: the condition is a boolean tensor without grad
    with pytest.raises(ta.OpError, match="not differentiable with respect to its input 2"):
        F.masked_fill(x, np.array([True, False]), leaf([0.0]))


def test_non_differentiable_cast_refuses_grad():
    with pytest.raises(ta.OpError, match="not differentiable"):
        F.astype(leaf([1.5]), np.int64)
    assert F.astype(ta.tensor([True, False]), np.float32).dtype == np.float32
