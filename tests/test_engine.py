"""The engine (tinyattn/engine.py): gradient mode, the backward walk, accumulation, graph freeing, depth, memory."""
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F
from tinyattn import GraphError, ShapeError, engine
from tinyattn.primitive import joint_vjps


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


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


# ----- the walk's parts: consumer counting, unbroadcast, the no-copy rule ----------------------------------

def test_each_vjp_runs_once_and_a_tensor_passes_its_gradient_on_only_when_complete():
    # x feeds a by two paths of different lengths (a = x * x; b = a + x * 3; c = b * a): a must have heard from both
    # of its consumers (b and c) before its VJPs run, so each VJP runs exactly once with the summed gradient.
    calls = []

    @ta.primitive
    def traced(x):
        calls.append("forward")
        return x * 1.0, lambda grad: (calls.append("vjp"), grad)[1]

    x = leaf([0.5, -1.5])
    a = traced(x * x)
    b = a + x * 3.0
    c = b * a
    c.backward(grad=np.array([1.0, 2.0]))
    assert calls == ["forward", "vjp"]
    a_value = x.data**2
    b_value = a_value + 3 * x.data
    grad_a = np.array([1.0, 2.0]) * (a_value + b_value)  # through b (times a) and through c directly (times b)
    np.testing.assert_allclose(x.grad, grad_a * 2 * x.data + np.array([1.0, 2.0]) * a_value * 3.0)


@pytest.mark.parametrize(
    ("grad_shape", "shape", "expected"),
    [((2, 3), (2, 3), np.ones((2, 3))), ((2, 3), (3,), np.full(3, 2.0)), ((2, 3), (2, 1), np.full((2, 1), 3.0)),
     ((4, 2, 3), (1, 3), np.full((1, 3), 8.0)), ((2, 3), (), np.array(6.0))],
)
def test_unbroadcast_sums_over_the_broadcast_axes_only(grad_shape, shape, expected):
    out = engine.unbroadcast(np.ones(grad_shape), shape)
    assert out.shape == shape
    np.testing.assert_array_equal(out, expected)


def test_a_leaf_keeps_a_new_gradient_array_without_copying_but_never_one_that_another_holds():
    kept = {}

    @ta.primitive
    def fresh_gradient(x):
        def vjp(grad):
            kept["new"] = grad * 2.0  # a new array that no one else holds: .grad may be this very array
            return kept["new"]
        return x * 2.0, vjp

    @ta.primitive
    def passed_through(x):
        return x.copy(), lambda grad: grad  # the upstream gradient itself: .grad must be a copy of it

    x, y = leaf([1.0, 2.0]), leaf([1.0, 2.0])
    fresh_gradient(x).backward(grad=np.ones(2))
    assert x.grad is kept["new"]
    upstream = np.ones(2)
    passed_through(y).backward(grad=upstream)
    assert not np.shares_memory(y.grad, upstream)
    y.grad += 1.0  # an optimiser may update .grad in place
    np.testing.assert_array_equal(upstream, np.ones(2))


LOOKUPS = {
    "getitem": lambda weight, ids: weight[ids],
    "embedding": lambda weight, ids: F.embedding(weight, ids),
    "take": lambda weight, ids: F.take(weight, ids),
}


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_a_lookups_gradient_table_becomes_grad_itself_not_a_copy(monkeypatch, lookup):
    # The (V, D) table that the scatter-add fills is new and held by no one else: copying it into .grad would only
    # double the backward's memory traffic (issue 16).
    from tinyattn.ops import index

    made = []
    scatter_rows = index._scatter_rows

    def spy(*args):
        made.append(scatter_rows(*args))
        return made[-1]

    monkeypatch.setattr(index, "_scatter_rows", spy)
    ids, upstream = np.array([3, 0, 3, 1]), np.arange(12.0).reshape(4, 3)
    weight = leaf(np.zeros((5, 3)))
    LOOKUPS[lookup](weight, ids).backward(upstream)
    assert weight.grad is made[-1]
    expected = np.zeros((5, 3))
    np.add.at(expected, ids, upstream)
    np.testing.assert_array_equal(weight.grad, expected)


def test_two_leaves_given_one_new_array_by_a_node_get_gradient_arrays_of_their_own():
    # Both VJPs return the very same new array (one fused backward for both inputs): only one leaf may keep it.
    @ta.primitive
    def fused_add(a, b):
        return a + b, joint_vjps(lambda grad: (grad * 2.0,) * 2, 2)

    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    fused_add(a, b).backward(grad=np.ones(2))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 1.0  # an optimiser updating one .grad in place must leave the other alone
    np.testing.assert_array_equal(b.grad, [2.0, 2.0])


def test_the_upstream_gradient_is_never_a_leafs_grad_whether_passed_through_reshape_add_or_directly():
    upstream = np.arange(6.0)
    x, a, b, c = leaf(np.zeros((2, 3))), leaf(np.zeros(6)), leaf(np.zeros(6)), leaf(np.zeros(6))
    x.reshape(6).backward(upstream)  # the reshape VJP returns a view of upstream
    (a + b).backward(upstream)  # add's VJPs return upstream itself, to both leaves
    c.backward(upstream)  # a leaf's own backward
    retained = c * 1.0
    retained.retain_grad()
    retained.backward(upstream)  # a computed root that keeps its gradient
    assert not np.shares_memory(a.grad, b.grad)
    for tensor in (x, a, b, c, retained):
        assert not np.shares_memory(tensor.grad, upstream)
        tensor.grad += 100.0
    np.testing.assert_array_equal(upstream, np.arange(6.0))
    np.testing.assert_array_equal(a.grad, b.grad)


def test_a_leaf_used_twice_gets_the_sum_of_both_paths_and_the_upstream_gradient_is_left_alone():
    upstream = np.array([1.0, 10.0, 100.0])
    x = leaf([1.0, 2.0, 3.0])
    (x + x).backward(upstream)  # two shares that are the upstream gradient itself
    np.testing.assert_array_equal(x.grad, 2 * upstream)
    np.testing.assert_array_equal(upstream, [1.0, 10.0, 100.0])
    table = leaf(np.zeros((4, 2)))
    first, second = table[np.array([0, 1, 1])], F.embedding(table, np.array([1, 3]))  # two new (4, 2) tables
    (first.sum() + (second * 2.0).sum()).backward()
    np.testing.assert_array_equal(table.grad, [[1.0, 1.0], [4.0, 4.0], [0.0, 0.0], [2.0, 2.0]])


def test_a_retained_intermediate_and_the_leaf_behind_a_reshape_do_not_share_a_gradient_array():
    x = leaf(np.zeros((2, 3)))
    y = x.reshape(6)
    y.retain_grad()
    y[np.array([0, 5, 5])].backward(np.array([1.0, 2.0, 3.0]))  # y's gradient is a new table; x's is a view of it
    assert not np.shares_memory(x.grad, y.grad)
    x.grad += 1.0
    np.testing.assert_array_equal(y.grad, [1.0, 0.0, 0.0, 0.0, 0.0, 5.0])
    np.testing.assert_array_equal(x.grad, [[2.0, 1.0, 1.0], [1.0, 1.0, 6.0]])


@pytest.mark.parametrize("lookup", LOOKUPS)
def test_grad_changed_in_place_between_backward_passes_through_one_graph_gives_the_right_sums(lookup):
    # Each backward must build a new gradient table: a VJP handing back the table of an earlier pass (a cached
    # buffer) would give .grad an array that the user has since changed.
    ids, upstream = np.array([2, 0, 2]), np.ones((3, 2))
    single = np.array([[1.0, 1.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    weight = leaf(np.zeros((4, 2)))
    out = LOOKUPS[lookup](weight, ids)
    out.backward(upstream, retain_graph=True)
    first = weight.grad
    first *= 0.5  # in place, as gradient clipping would
    out.backward(upstream, retain_graph=True)  # accumulates onto the changed .grad
    np.testing.assert_array_equal(weight.grad, 1.5 * single)
    np.testing.assert_array_equal(first, 0.5 * single)  # the sum is a new array: the one the user holds stays
    weight.grad = None
    out.backward(upstream)
    assert not np.shares_memory(weight.grad, first)
    first[...] = -1.0
    np.testing.assert_array_equal(weight.grad, single)


# ----- threads, changed inputs, generators --------------------------------------------------------------

def test_backward_from_several_threads_into_a_shared_leaf_loses_no_contribution():
    # Integer-valued float64 data keep every sum exact, so the expected gradient can be compared exactly.
    # Arrays large enough that NumPy releases the GIL while it adds, so that without a lock the threads interleave
    # between reading .grad and writing it back.
    weight = leaf(np.zeros((300, 200)))
    x = np.arange(600.0).reshape(2, 300) % 7
    threads_count, passes = 4, 300
    barrier = threading.Barrier(threads_count)

    def work():
        barrier.wait()  # start together, so the passes overlap
        for _ in range(passes):
            (ta.tensor(x) @ weight).sum().backward()

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one_pass = x.sum(axis=0)[:, None] * np.ones((1, 200))  # d sum(x @ w) / d w
    np.testing.assert_array_equal(weight.grad, threads_count * passes * one_pass)


def test_a_leaf_whose_data_is_assigned_after_the_forward_stops_backward_with_an_error_naming_it():
    w = leaf([1.0, 2.0, 3.0])
    loss = (w * w).sum()
    w.data = np.array([4.0, 5.0, 6.0])
    with pytest.raises(GraphError, match=r"shape \(3,\) float64 \(a leaf\) was changed after 'mul' used it"):
        loss.backward()
    assert w.grad is None


def test_data_of_another_shape_gives_the_changed_error_rather_than_a_reshape_error():
    w = leaf([1.0, 2.0, 3.0])
    loss = (w * 2.0).sum()
    w.data = np.array([1.0, 2.0])
    with pytest.raises(GraphError, match="version 0 then, 1 now"):
        loss.backward()


def test_an_in_place_change_marked_with_mark_modified_is_caught_and_a_new_forward_is_fine():
    w = leaf([1.0, 2.0])
    loss = (w * w).sum()
    w.data[...] = 0.0  # cannot be seen by itself ...
    w.mark_modified()  # ... which is what mark_modified is for
    assert w.version == 1
    with pytest.raises(GraphError, match="changed after 'mul'"):
        loss.backward()
    (w * w).sum().backward()  # recorded after the change: fine
    np.testing.assert_array_equal(w.grad, [0.0, 0.0])


def test_a_computed_tensor_whose_data_is_assigned_before_backward_is_caught():
    x = leaf([0.5, -0.5])
    hidden = F.tanh(x)
    loss = (hidden * 3.0).sum()
    hidden.data = np.zeros(2)
    with pytest.raises(GraphError, match=r"computed by 'tanh'\) was changed after 'mul'"):
        loss.backward()


def test_no_grad_applies_inside_a_generator_function_and_gives_the_caller_its_mode_at_each_yield():
    @ta.no_grad()
    def steps(x):
        received = yield ta.is_grad_enabled(), (x * 2.0).requires_grad
        try:
            yield received, ta.is_grad_enabled()
        except KeyError:
            yield "caught", ta.is_grad_enabled()
        return "done"

    x = leaf([1.0])
    generator = steps(x)
    assert next(generator) == (False, False)
    assert ta.is_grad_enabled()  # between items, the caller's mode
    assert generator.send("hello") == ("hello", False)
    assert (x * 2.0).requires_grad
    assert generator.throw(KeyError()) == ("caught", False)
    with pytest.raises(StopIteration) as stop:
        next(generator)
    assert stop.value.value == "done"
    assert steps.__name__ == "steps"


def test_enable_grad_applies_inside_a_generator_function_under_no_grad():
    @ta.enable_grad()
    def recording():
        yield ta.is_grad_enabled()

    with ta.no_grad():
        assert list(recording()) == [True]
        assert not ta.is_grad_enabled()
