"""@primitive (tinyattn/primitive.py): user-defined operations, inputs by keyword, VJP errors."""
import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


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
    @ta.primitive(name="fill_from")
    def fill_from(keep, x, fill):
        """x where keep is True, else fill; like where, but without a gradient for the fill."""
        return np.where(keep, x, fill), (None, lambda grad: np.where(keep, grad, 0), None)

    x = leaf([1.0, 2.0])
    F.where(leaf([1.0, 0.0]) > 0.5, x, x)  # fine: the condition is a boolean tensor without grad
    fill_from(np.array([True, False]), x, np.zeros(1))  # fine: the fill does not require grad
    with pytest.raises(ta.OpError, match="fill_from is not differentiable with respect to its input 2"):
        fill_from(np.array([True, False]), x, leaf([0.0]))


def test_non_differentiable_cast_refuses_grad():
    with pytest.raises(ta.OpError, match="not differentiable"):
        F.astype(leaf([1.5]), np.int64)
    assert F.astype(ta.tensor([True, False]), np.float32).dtype == np.float32
