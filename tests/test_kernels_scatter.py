"""The scatter-add kernels (tinyattn/kernels/scatter.py) equal np.add.at, and refuse rows outside the table."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from tinyattn.kernels import scatter as scatter_kernels


@settings(max_examples=60)
@given(data=st.data(), dtype=st.sampled_from(S.KERNEL_DTYPES), layout=st.sampled_from(S.LAYOUTS))
def test_scatter_add_kernel_equals_np_add_at_with_repeated_rows(data, dtype, layout):
    table_rows, width = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 9))
    rows = data.draw(S.hnp.arrays(np.int64, data.draw(st.integers(0, 12)), elements=st.integers(0, table_rows - 1)))
    values = S.laid_out(data.draw(S.arrays((rows.size, width))).astype(dtype), layout)
    start = data.draw(S.arrays((table_rows, width))).astype(dtype)
    expected = scatter_kernels.scatter_add_rows.reference(start.copy(), rows, values)
    got = scatter_kernels.scatter_add_rows.numba(start.copy(), rows, values)
    S.assert_kernel_matches(got, expected)
    S.assert_module_compiled_once_per_dtype(scatter_kernels)  # whatever layouts this example's arrays had


def test_scatter_add_kernel_refuses_rows_outside_the_table():
    with pytest.raises(IndexError, match="outside"):
        scatter_kernels.scatter_add_rows.numba(np.zeros((3, 2)), np.array([0, 3]), np.ones((2, 2)))


@settings(max_examples=60)
@given(data=st.data(), dtype=st.sampled_from(S.KERNEL_DTYPES), layout=st.sampled_from(S.LAYOUTS))
def test_scatter_into_zeros_equals_zeros_plus_np_add_at_and_returns_a_new_array(data, dtype, layout):
    shape = (data.draw(st.integers(1, 6)),) + data.draw(st.sampled_from([(), (1,), (4,), (2, 3)]))
    width = int(np.prod(shape[1:]))
    rows = data.draw(S.hnp.arrays(np.int64, data.draw(st.integers(0, 12)), elements=st.integers(0, shape[0] - 1)))
    values = S.laid_out(data.draw(S.arrays((rows.size, width))).astype(dtype), layout)
    expected = np.zeros(shape, dtype)
    np.add.at(expected.reshape(shape[0], width), rows, values)
    for scatter in (scatter_kernels.scatter_into_zeros.reference, scatter_kernels.scatter_into_zeros.numba):
        got = scatter(shape, rows, values)
        S.assert_kernel_matches(got, expected)
        assert got.base is None  # a new array, not a view: the engine may make it a .grad without a copy
    S.assert_module_compiled_once_per_dtype(scatter_kernels)  # whatever layouts this example's arrays had


def test_scatter_into_zeros_zeroes_the_rows_no_value_reaches_even_in_reused_memory():
    # NumPy keeps small freed buffers and hands them out again: the table is first made in memory full of NaNs.
    garbage = np.full((8, 4), np.nan)
    del garbage
    got = scatter_kernels.scatter_into_zeros.numba((8, 4), np.array([1, 6, 1]), np.ones((3, 4)))
    expected = np.zeros((8, 4))
    expected[1], expected[6] = 2.0, 1.0
    np.testing.assert_array_equal(got, expected)


def test_scatter_into_zeros_refuses_rows_outside_the_table():
    with pytest.raises(IndexError, match="outside"):
        scatter_kernels.scatter_into_zeros.numba((3, 2), np.array([0, 3]), np.ones((2, 2)))
