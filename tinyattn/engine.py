"""The engine: whether operations record the graph, and the backward walk that runs it in reverse.

A tensor computed by a differentiable operation keeps its *edges*: for each input that requires grad, the triple
(input tensor, VJP, the input's version then), where the VJP maps the gradient of the output to the gradient of
that input (``tinyattn.primitive`` makes them). ``backward(root, grad)`` is the whole of reverse mode. The plain
algorithm:

    order = every tensor reachable from root, each placed after all the tensors computed from it
    grads = {root: grad}
    for node in order:                                  # from the root towards the leaves
        for parent, vjp, _ in node.edges:
            grads[parent] += unbroadcast(vjp(grads[node]), parent.shape)
    for each leaf: leaf.grad += grads[leaf]       # at the end, so an error part-way changes no .grad

The order comes from counting consumers: first walk the graph once and count, for each tensor, the edges that
lead into it; then start from the root and hand each tensor on only when its count has dropped to zero, that is,
when every tensor computed from it has passed its gradient back, so its gradient is complete. Both passes use an
explicit stack, never recursion, so a graph of any depth (an RNN over 100,000 steps) is fine.

The code below is that algorithm with three departures, each marked where it happens, and two checks: that no
input changed since its operation ran (its version, see ``Tensor.version``), and that no two threads add into one
``.grad`` at once (backward passes may run in several threads; they may share leaves, such as a model's
parameters, but not computed tensors: each leaf's share is summed in the walk's own dict, then added to its
``.grad`` under a lock).

- *slot counters*: the count and the gradient in progress live in two slots of each tensor (``_waiting``,
  ``_pending``) rather than in dicts keyed by ``id()``; this walk runs once per recorded operation, and
  ``bench/overhead.py`` measures it;
- *freeing*: each tensor drops its edges once it has been walked (unless ``retain_graph``), which releases the
  arrays the VJPs hold as early as possible;
- *the no-copy rule*: a leaf's first gradient is stored without a copy when no one else can hold that array.

The engine knows nothing about individual operations, and operations know nothing about the walk.
"""
import functools
import threading
from contextlib import ContextDecorator

import numpy as np

from tinyattn.errors import GraphError

# ----- recording ------------------------------------------------------------------------------------------


class GradMode(threading.local):
    """Whether operations record the graph, per thread (``tinyattn.primitive`` reads it at every operation)."""

    enabled = True


grad_mode = GradMode()


def is_grad_enabled():
    """True when operations record the graph in this thread (the default)."""
    return grad_mode.enabled


_CO_GENERATOR = 0x20  # the code flag of a generator function (inspect.CO_GENERATOR; inspect is slow to import)


class _SetGradMode(ContextDecorator):
    _enabled = True

    def __call__(self, function):
        if not function.__code__.co_flags & _CO_GENERATOR:
            return super().__call__(function)
        mode = type(self)

        # A generator runs in pieces, each time the caller asks for the next item: set the mode around each piece,
        # and give the caller's mode back at every yield.
        @functools.wraps(function)
        def generator(*args, **kwargs):
            inner = function(*args, **kwargs)
            resume, value = inner.send, None
            while True:
                try:
                    with mode():
                        item = resume(value)
                except StopIteration as stop:
                    return stop.value
                try:
                    resume, value = inner.send, (yield item)
                except GeneratorExit:
                    inner.close()
                    raise
                except BaseException as error:  # thrown in by the caller: the generator gets to handle it
                    resume, value = inner.throw, error

        return generator

    def __enter__(self):
        self._previous = grad_mode.enabled
        grad_mode.enabled = self._enabled
        return self

    def __exit__(self, *exc_info):
        grad_mode.enabled = self._previous
        return False

    def _recreate_cm(self):
        # A fresh instance for each decorated call, so recursion and threads do not share `_previous`.
        return type(self)()


class no_grad(_SetGradMode):
    """Context manager and decorator: operations inside record no graph (thread-local).

    Use it for inference and for parameter updates; results do not require grad.
    """

    _enabled = False


class enable_grad(_SetGradMode):
    """Context manager and decorator: turn graph recording back on inside a ``no_grad`` block."""

    _enabled = True


# ----- the backward walk ----------------------------------------------------------------------------------

#: The edges of a tensor whose graph an earlier backward has freed.
FREED = ()


def backward(root, grad, retain_graph=False):
    """Pass `grad` (the gradient of `root`, already of its shape and dtype) back along the recorded edges, and add
    each leaf's share to its ``.grad``."""
    if root._edges is None:  # a leaf: nothing to walk
        accumulate(root, grad)
        return
    if root._edges is FREED:
        raise _freed_error(root)
    _count_consumers(root)
    root._pending = grad
    ready = [root]  # tensors whose gradient is complete
    leaf_shares = {}  # id(leaf) -> [leaf, its gradient so far, whether no one else holds that array]
    taken = set()  # id() of the arrays handed to a leaf as its own: a second leaf gets a copy
    while ready:
        node = ready.pop()
        grad, node._pending = node._pending, None
        if node._retains_grad:
            accumulate(node, grad)
        for parent, vjp, version in node._edges:
            if parent._version != version:
                raise _changed_error(parent, version, node)
            parent_grad = vjp(grad)
            data = parent._data
            if parent_grad.shape != data.shape:
                parent_grad = unbroadcast(parent_grad, data.shape)
            if parent_grad.dtype != data.dtype:
                parent_grad = parent_grad.astype(data.dtype)
            if parent._edges is None:  # a leaf: its shares are summed here, and added to .grad after the walk
                share = leaf_shares.get(id(parent))
                if share is None:
                    # The no-copy rule. A VJP returns a new array or a view of its argument; only a new array, which
                    # no one else holds, can become .grad without a copy: not the upstream gradient itself (an
                    # identity VJP), not a view (.base is set), and not an array already given to another leaf (two
                    # VJPs of one node may return the same new array). (NumPy gives a 0-d result as a NumPy scalar,
                    # not an array: that one is copied into an array.)
                    owned = (type(parent_grad) is np.ndarray and parent_grad is not grad and parent_grad.base is None
                             and id(parent_grad) not in taken)
                    if owned:
                        taken.add(id(parent_grad))
                    leaf_shares[id(parent)] = [parent, parent_grad, owned]
                else:
                    share[1], share[2] = share[1] + parent_grad, True
                continue
            # Slot counters: the gradient in progress and the consumers still to come live on the tensor.
            previous = parent._pending
            parent._pending = parent_grad if previous is None else previous + parent_grad
            parent._waiting -= 1
            if parent._waiting == 0:
                ready.append(parent)
        if not retain_graph:  # freeing: this node's VJPs, and the arrays they hold, can go now
            node._edges = FREED
    for leaf, leaf_grad, owned in leaf_shares.values():
        accumulate(leaf, leaf_grad, owned)


def _count_consumers(root):
    """Set ``_waiting`` on each computed tensor reachable from `root` to the number of edges that lead into it."""
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        for parent, _, _ in node._edges:
            parent_edges = parent._edges
            if parent_edges is None:  # a leaf: it takes its gradients as they come, no count needed
                continue
            if id(parent) in seen:
                parent._waiting += 1
            else:
                if parent_edges is FREED:
                    raise _freed_error(parent)
                seen.add(id(parent))
                parent._waiting = 1
                parent._pending = None
                stack.append(parent)


def _freed_error(node):
    return GraphError(
        f"backward() through a graph that an earlier backward() already freed (at a tensor computed by "
        f"'{node._op}', shape {node.shape}). Pass retain_graph=True to the first backward() "
        "to walk the graph more than once"
    )


def _changed_error(tensor, version, consumer):
    kind = "a leaf" if tensor._edges is None else f"computed by '{tensor._op}'"
    return GraphError(
        f"backward(): a tensor of shape {tensor.shape} {tensor.dtype} ({kind}) was changed after '{consumer._op}' "
        f"used it (version {version} then, {tensor._version} now: its .data was assigned, or it was updated in "
        "place by an optimiser step or load_state_dict), so its gradient would mix old and new values. Run the "
        "forward again after changing it (optimizer.step() goes after backward())"
    )


_accumulate_lock = threading.Lock()


def accumulate(tensor, grad, owned=False):
    """Add `grad` into ``tensor.grad``. Unless the caller owns `grad` (no one else holds it), the first store
    copies: no two ``.grad`` arrays may share memory, and an optimiser may update ``.grad`` in place.

    The read and the write of ``.grad`` happen under one lock, so backward passes running in several threads
    into a shared leaf lose no contribution (one lock for all tensors: the sum itself is quick)."""
    with _accumulate_lock:
        if tensor.grad is None:
            tensor.grad = grad if owned else np.array(grad, copy=True)
        else:
            tensor.grad = tensor.grad + grad


def unbroadcast(grad, shape):
    """Sum `grad` over the axes along which an input of `shape` was broadcast, giving an array of `shape`.

    This is the one place where broadcasting is undone: the backward walk applies it to every VJP's result.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    axes = tuple(range(leading)) + tuple(
        leading + i for i, size in enumerate(shape) if size == 1 and grad.shape[leading + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
