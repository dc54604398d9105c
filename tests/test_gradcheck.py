"""gradcheck itself: it passes correct gradients, catches wrong ones, and reports them readably."""
import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, GradcheckError


@ta.primitive(name="test_wrong_square")
def wrong_square(x):
    """x ** 2 with a deliberately wrong gradient at the last element."""
    def vjp(grad):
        claimed = 2 * x * grad
        claimed.reshape(-1)[-1] += 0.01
        return claimed

    return x * x, vjp


@ta.primitive(name="test_softmax_wrong_correction")
def softmax_wrong_correction(x):
    """softmax whose VJP subtracts the plain mean of grad instead of its out-weighted sum.

    For grad = ones both give zero, so a check through out.sum() cannot see the bug.
    """
    exps = np.exp(x - x.max(axis=-1, keepdims=True))
    out = exps / exps.sum(axis=-1, keepdims=True)
    return out, lambda grad: out * (grad - np.mean(grad, axis=-1, keepdims=True))


def leaf(shape, seed=0):
    return ta.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_gradcheck_passes_a_correct_gradient():
    assert ta.gradcheck(lambda a, b: F.softmax(a @ b), leaf((3, 4)), leaf((4, 2), seed=1))


def test_gradcheck_reports_the_input_the_element_and_both_values():
    x = leaf((2, 3))
    with pytest.raises(GradcheckError) as caught:
        ta.gradcheck(lambda scale, x: wrong_square(x) * scale, ta.tensor(2.0), x)
    message = str(caught.value)
    assert "input 1" in message and "(2, 3)" in message
    assert "1 of 6 elements" in message and "element (1, 2)" in message
    assert "analytic" in message and "numeric" in message


def test_gradcheck_projects_on_a_random_direction_so_softmax_bugs_show():
    x = leaf((2, 4))
    with pytest.raises(GradcheckError):
        ta.gradcheck(softmax_wrong_correction, x)
    # Through out.sum() the same bug is invisible: that is why gradcheck never sums.
    ta.gradcheck(lambda x: softmax_wrong_correction(x).sum(), x)


def test_gradcheck_uses_random_directions_for_large_inputs_and_still_catches_bugs():
    big = leaf((10, 10))
    assert ta.gradcheck(lambda x: F.tanh(x) * x, big)
    with pytest.raises(GradcheckError, match="random direction"):
        ta.gradcheck(wrong_square, big)


def test_gradcheck_refuses_float32_inputs():
    x = ta.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(DTypeError, match="float64"):
        ta.gradcheck(F.exp, x)


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires_grad"):
        ta.gradcheck(F.exp, ta.tensor([1.0]))


def test_gradcheck_restores_inputs_and_their_gradients():
    x = leaf((2, 3))
    x.grad = np.full((2, 3), 7.0)
    original = x.data
    snapshot = original.copy()
    ta.gradcheck(F.exp, x)
    assert x.data is original
    np.testing.assert_array_equal(x.data, snapshot)
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 7.0))


def test_gradcheck_treats_an_unused_input_as_zero_gradient():
    assert ta.gradcheck(lambda a, b: a * 2.0, leaf((2,)), leaf((3,)))
