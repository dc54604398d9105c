"""The scatter-add kernel (tinyattn/kernels/scatter.py) equals np.add.at, and refuses rows outside the table."""
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


def test_scatter_add_kernel_refuses_rows_outside_the_table():
    with pytest.raises(IndexError, match="outside"):
        scatter_kernels.scatter_add_rows.numba(np.zeros((3, 2)), np.array([0, 3]), np.ones((2, 2)))
