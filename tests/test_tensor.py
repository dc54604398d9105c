"""The Tensor: construction, array behaviour, mixing with arrays and scalars, dtypes, comparisons."""
import numpy as np
import pytest

import tinyattn as ta
from tinyattn import DTypeError, IndexOpError


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


@pytest.mark.parametrize("shape", [(4,), (4, 3), (4, 2, 3)])
@pytest.mark.parametrize(
    "index",
    [[2, 0, 2], np.array([-1, 0, -4]), np.array([[1, 2], [3, 3]]), np.array([], dtype=np.int64),
     np.array([3, 1], dtype=np.uint8)],
)
def test_indexing_by_integer_rows_gives_numpys_result(shape, index):
    # x[ids] runs as np.take (faster than NumPy's fancy indexing); it must agree with x[ids] in every case.
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    got = ta.tensor(x, requires_grad=True)[index]
    assert got.shape == x[index].shape and got.dtype == x.dtype
    np.testing.assert_array_equal(got.data, x[index])


def test_indexing_by_an_integer_row_out_of_range_names_getitem_and_the_index():
    with pytest.raises(IndexOpError, match=r"getitem: index 4 is out of bounds.*\(4, 3\)"):
        ta.tensor(np.zeros((4, 3)))[np.array([0, 4])]
