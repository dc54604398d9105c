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
        (lambda: F.softmax(t((2, 3)), mask=np.ones((4,), bool)), ShapeError, ["softmax", "(2, 3)"]),
        (lambda: F.masked_fill(t((2, 3)), np.ones((2, 3)), 0.0), DTypeError, ["masked_fill", "boolean"]),
        (lambda: F.where(np.ones(3), t((3,)), t((3,))), DTypeError, ["where", "boolean"]),
        (lambda: F.softmax(ta.tensor([1, 2, 3])), DTypeError, ["softmax", "int64"]),
        (lambda: t((2,)) + "text", OpError, ["add", "str"]),
    ],
)
def test_bad_input_error_names_the_op_and_the_inputs(call, error, fragments):
    S.assert_error_names(error, call, fragments)


def test_op_errors_remain_catchable_as_the_builtin_exception_types():
    with pytest.raises(ValueError):
        t((3, 4)) @ t((5, 6))
    with pytest.raises(IndexError):
        t((2,))[3]
    with pytest.raises(TypeError):
        F.take(t((4, 2)), np.array([0.5]))
