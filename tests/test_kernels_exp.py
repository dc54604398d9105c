"""The vectorised exp of the kernels (tinyattn/kernels/exp.py) against np.exp over its whole range."""
import numpy as np
import pytest

import strategies as S
from tinyattn.kernels import exp as exp_kernels


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_vectorised_exp_is_within_one_ulp_of_numpy_over_its_whole_range(dtype):
    """Checked against np.exp in float64 from -0 through tiny and huge magnitudes to -inf."""
    finfo = np.finfo(dtype)
    values = -np.concatenate([
        [0.0, finfo.tiny, finfo.eps, 1e-30],
        np.geomspace(1e-30, 800.0, 200_000),
        [np.log(2.0) / 2, 87.0, 87.3, 103.0, 708.0, 708.4, 745.2, 1e30, finfo.max, np.inf],
    ]).astype(dtype)
    got = exp_kernels.exp_nonpositive.numba(values)
    assert got.dtype == dtype
    exact = np.exp(values.astype(np.float64))
    normal = exact >= finfo.tiny  # where np.exp gives a normal number, the kernel is within one ulp of it
    ulps = np.abs(got[normal] - exact[normal]) / (exact[normal] * finfo.eps)
    assert ulps.max() <= 1.0, f"worst error {ulps.max():.2f} ulp at x = {values[normal][np.argmax(ulps)]!r}"
    # Below the normal range the kernel gives exactly 0 (np.exp a subnormal, or 0); never inf, never NaN.
    assert np.all(got[~normal] == 0.0)
    assert got[-1] == 0.0 and got[0] == 1.0
