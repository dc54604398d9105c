"""Bad input gets an error that names the operation, the shapes and the dtypes, never a bare NumPy traceback."""
import numpy as np
import pytest

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, IndexOpError, OpError, ShapeError


def t(shape, dtype=np.float64):
    return ta.tensor(np.ones(shape, dtype=dtype), requires_grad=np.dtype(dtype).kind == "f")


@pytest.mark.parametrize(
    "call, error, fragments",
    [
        (lambda: t((3, 4)) @ t((5, 6)), ShapeError, ["matmul", "(3, 4)", "(5, 6)", "4", "5", "float64"]),
        (lambda: t((2, 3, 4)) @ t((5, 4, 2)), ShapeError, ["matmul", "(2, 3, 4)", "(5, 4, 2)"]),
        (lambda: t(()) @ t((3,)), ShapeError, ["matmul", "at least one dimension"]),
        (lambda: t((3, 4)) + t((5, 6)), ShapeError, ["add", "(3, 4)", "(5, 6)"]),
        (lambda: t((3, 4), np.float32) * t((2,)), ShapeError, ["mul", "(3, 4) float32", "(2,) float64"]),
        (lambda: t((3, 4)).reshape(5), ShapeError, ["reshape", "(3, 4)"]),
        (lambda: F.concatenate([t((2, 3)), t((2, 4))], axis=0), ShapeError, ["concatenate", "(2, 3)", "(2, 4)"]),
        (lambda: F.stack([t((2, 3)), t((3, 2))]), ShapeError, ["stack", "(2, 3)", "(3, 2)"]),
        (lambda: t((2, 3)).sum(axis=2), ShapeError, ["sum", "axis 2", "(2, 3)"]),
        (lambda: F.softmax(t((2, 0))), ShapeError, ["softmax", "empty"]),
        (lambda: t((0,)).max(), ShapeError, ["max", "empty"]),
        (lambda: t((2, 3))[5], IndexOpError, ["getitem", "(2, 3)"]),
        (lambda: F.take(t((4, 2)), np.array([0, 9])), IndexOpError, ["take", "9", "(4, 2)"]),
        (lambda: F.take(t((4, 2)), np.array([0.0, 1.0])), DTypeError, ["take", "integer", "float64"]),
        (lambda: F.gather(t((4, 2)), np.array([0, 1])), ShapeError, ["gather", "(4, 2)"]),
        (lambda: F.softmax(t((2, 3)), mask=np.ones((2, 3), int)), DTypeError, ["softmax", "boolean", "float", "int64"]),
        (lambda: F.log_softmax(t((2, 3)), mask=np.ones((2, 3), int)), DTypeError,
         ["log_softmax", "boolean", "mask of shape (2, 3) int64", "(2, 3) float64"]),
        (lambda: F.logsumexp(t((2, 3)), mask=np.eye(2, 3, dtype=np.uint8)), DTypeError,
         ["logsumexp", "boolean", "mask of shape (2, 3) uint8", "(2, 3) float64"]),
        (lambda: F.softmax(t((2, 3)), mask=np.ones((4,), bool)), ShapeError, ["softmax", "(2, 3)"]),
        (lambda: F.where(np.ones(3), t((3,)), t((3,))), DTypeError, ["where", "boolean", "(3,) float64"]),
        (lambda: F.where(np.ones((2, 3), int), t((2, 3)), 0.0), DTypeError, ["where", "boolean", "(2, 3) int64"]),
        (lambda: F.softmax(ta.tensor([1, 2, 3])), DTypeError, ["softmax", "int64"]),
        (lambda: t((2,)) + "text", OpError, ["add", "str"]),
    ],
)
def test_bad_input_error_names_the_op_and_the_inputs(call, error, fragments):
    S.assert_error_names(error, call, fragments)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "plus-inf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_float_mask_holding_nan_or_plus_inf_is_refused_naming_the_op_and_the_position(op, bad, dtype):
    # Added to the scores, NaN or +inf would make the whole row NaN; -inf (drop) is the one infinity a mask may hold.
    mask = np.zeros((1, 3), dtype)  # broadcast over the rows: the position is named in the mask's own shape
    mask[0, 2] = -np.inf
    x = t((2, 3), dtype)
    assert not np.isnan(getattr(F, op)(x, mask=mask).data).any()  # log_softmax is -inf where dropped
    mask[0, 1] = bad
    S.assert_error_names(ValueError, lambda: getattr(F, op)(x, mask=mask),
                         [f"{op}: a float mask", f"mask[0, 1] is {bad}", f"(2, 3) {np.dtype(dtype).name}"])


def test_op_errors_remain_catchable_as_the_builtin_exception_types():
    with pytest.raises(ValueError):
        t((3, 4)) @ t((5, 6))
    with pytest.raises(IndexError):
        t((2,))[3]
    with pytest.raises(TypeError):
        F.take(t((4, 2)), np.array([0.5]))


# ----- axes: integers only -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "op, call",
    [
        ("sum", lambda x: x.sum(axis=1.5)),
        ("sum", lambda x: F.sum(x, axis=(0, 1.5))),
        ("mean", lambda x: x.mean(axis=1.5)),
        ("var", lambda x: x.var(axis=1.5)),
        ("max", lambda x: x.max(axis=1.5)),
        ("min", lambda x: F.min(x, axis=1.5)),
        ("softmax", lambda x: F.softmax(x, axis=1.5)),
        ("log_softmax", lambda x: x.log_softmax(axis=1.5)),
        ("logsumexp", lambda x: F.logsumexp(x, axis=1.5)),
        ("expand_dims", lambda x: F.expand_dims(x, 1.5)),
        ("squeeze", lambda x: F.squeeze(x, 1.5)),
        ("swapaxes", lambda x: F.swapaxes(x, 1.5, 0)),
        ("transpose", lambda x: F.transpose(x, axes=(1.5, 0))),  # named "axes" in its message
        ("concatenate", lambda x: F.concatenate([x, x], axis=1.5)),
        ("stack", lambda x: F.stack([x, x], axis=1.5)),
        ("split", lambda x: F.split(x, 3, axis=1.5)),
        ("take", lambda x: F.take(x, np.array([0]), axis=1.5)),
        ("gather", lambda x: F.gather(x, np.array([[0]]), axis=1.5)),
        ("argmax", lambda x: F.argmax(x, axis=1.5)),
        ("argmin", lambda x: F.argmin(x, axis=1.5)),
    ],
)
def test_a_float_axis_is_refused_naming_the_op_the_axis_and_the_input(op, call):
    # NumPy's int() would make 1.5 axis 1: a silent truncation, not an axis.
    argument = "axes" if op == "transpose" else "axis"
    S.assert_error_names(DTypeError, lambda: call(t((2, 3))), [f"{op}: {argument}", "1.5", "(2, 3)", "float64"])


@pytest.mark.parametrize("axis", [True, np.float64(1.0), np.array(1), "1"], ids=["bool", "numpy-float", "array", "str"])
def test_an_axis_that_is_not_an_integer_is_refused_even_if_it_would_convert(axis):
    S.assert_error_names(DTypeError, lambda: t((2, 3)).sum(axis=axis), ["sum", "axis", "(2, 3)"])
    S.assert_error_names(DTypeError, lambda: F.softmax(t((2, 3)), axis=axis), ["softmax", "axis", "(2, 3)"])


def test_integer_numpy_scalars_lists_and_tuples_are_accepted_as_axes():
    x = ta.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(axis=np.int64(1)).data, [3.0, 12.0])
    np.testing.assert_array_equal(F.sum(x, axis=(np.int32(0), -1)).data, 15.0)
    np.testing.assert_array_equal(F.mean(x, axis=[0]).data, [1.5, 2.5, 3.5])
    assert F.softmax(x, axis=np.int8(0)).shape == (2, 3)
    assert [piece.shape for piece in F.split(x, 3, axis=np.int64(-1))] == [(2, 1)] * 3
    assert F.take(x, np.array([2, 0]), axis=np.int64(1)).shape == (2, 2)


@pytest.mark.parametrize(
    "sections, error, fragment",
    [
        (2.5, DTypeError, "number of sections must be an int, got 2.5"),  # int() would make it 2
        (True, DTypeError, "number of sections must be an int, got True"),
        (np.float64(2.0), DTypeError, "number of sections must be an int"),
        ([1.5], DTypeError, "split points must be integers"),
        ([True], DTypeError, "split points must be integers"),
        ([[1]], ShapeError, "flat list of integers"),
        (3, ShapeError, "size 4 does not divide into 3"),
        (0, ShapeError, "size 4 does not divide into 0"),
    ],
    ids=["float", "bool", "numpy-float", "float-point", "bool-point", "nested-points", "uneven", "zero"],
)
def test_split_refuses_sections_and_points_that_are_not_whole_numbers_naming_split_and_the_input(sections, error,
                                                                                                   fragment):
    S.assert_error_names(error, lambda: F.split(t((4, 3)), sections), ["split", fragment, "(4, 3)", "float64"])


def test_split_takes_points_as_a_list_a_tuple_or_an_integer_array_as_numpy_does():
    x = ta.tensor(np.arange(12.0).reshape(4, 3))
    for points in ([1, 3], (1, 3), np.array([1, 3]), [1, 9], [3, 1], []):
        pieces = F.split(x, points)
        expected = np.split(x.data, points)
        assert [piece.shape for piece in pieces] == [part.shape for part in expected], points


@pytest.mark.parametrize("axis", [5, -3])
def test_split_along_an_axis_out_of_range_names_split_the_axis_and_the_shape(axis):
    S.assert_error_names(ShapeError, lambda: F.split(t((2, 3)), 3, axis=axis),
                         ["split", f"axis {axis}", "(2, 3)", "float64"])


@pytest.mark.parametrize(
    "op, call",
    [
        ("concatenate", lambda x: F.concatenate([x, x], axis=2)),
        ("stack", lambda x: F.stack([x, x], axis=-4)),
        ("swapaxes", lambda x: F.swapaxes(x, 0, 2)),
        ("take", lambda x: F.take(x, np.array([0]), axis=2)),
        ("gather", lambda x: F.gather(x, np.array([[0]]), axis=-3)),
    ],
)
def test_an_axis_out_of_range_names_the_op_the_axis_and_the_shape(op, call):
    S.assert_error_names(ShapeError, lambda: call(t((2, 3))), [op, "axis", "out of range", "(2, 3)", "float64"])
