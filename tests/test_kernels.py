"""Each Numba kernel equals its NumPy reference; the switch, the lazy import and the vectorised exp.

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so these tests check both whatever the
switch (TINYATTN_NUMBA) says; CI also runs the op tests with the references selected.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
from tinyattn.kernels import exp as exp_kernels
from tinyattn.kernels import scatter as scatter_kernels
from tinyattn.kernels import softmax as softmax_kernels

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Float32 kernels sum in a different order than NumPy's pairwise sums and use their own exp (within one ulp):
# a few ulps of the result, relative to its magnitude.
TOLERANCE = {np.dtype(np.float32): dict(rtol=2e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-12, atol=1e-14)}


def assert_same(kernel_result, reference_result):
    assert kernel_result.dtype == reference_result.dtype
    assert kernel_result.shape == reference_result.shape
    np.testing.assert_allclose(kernel_result, reference_result, **TOLERANCE[reference_result.dtype])


# ----- softmax family ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@settings(max_examples=60)
@given(case=S.kernel_rows())
def test_softmax_family_kernel_equals_its_reference(name, case):
    scores, mask, scale = case
    kernel = getattr(softmax_kernels, name)
    before = scores.copy()
    assert_same(kernel.numba(scores, mask, scale), kernel.reference(scores, mask, scale))
    np.testing.assert_array_equal(scores, before)  # inputs are never written


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(max_examples=60)
@given(case=S.kernel_rows(), data=st.data())
def test_softmax_family_backward_kernel_equals_its_reference(name, case, data):
    scores, mask, scale = case
    forward = getattr(softmax_kernels, name).reference(scores, mask, scale)
    grad = S.laid_out(data.draw(S.arrays(scores.shape, -2.0, 2.0)).astype(scores.dtype),
                      data.draw(st.sampled_from(S.LAYOUTS)))
    backward = getattr(softmax_kernels, f"{name}_backward")
    assert_same(backward.numba(forward, grad, scale), backward.reference(forward, grad, scale))


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_masked_positions_get_exactly_zero_weight_and_fully_masked_rows_are_zero(dtype):
    scores = np.array([[1e4, -3.0, 2.0], [5.0, 6.0, 7.0]], dtype)
    keep = np.array([[False, True, True], [False, False, False]])
    weights = softmax_kernels.softmax.numba(scores, keep, 1.0)
    assert weights[0, 0] == 0.0 and np.all(weights[1] == 0.0)
    np.testing.assert_allclose(weights[0, 1:].sum(), 1.0, rtol=1e-6)
    log_probs = softmax_kernels.log_softmax.numba(scores, keep, 1.0)
    assert log_probs[0, 0] == -np.inf and np.all(log_probs[1] == -np.inf)
    assert softmax_kernels.logsumexp.numba(scores, keep, 1.0)[1] == -np.inf
    grad = np.ones_like(scores)
    d_scores = softmax_kernels.log_softmax_backward.numba(log_probs, grad, 1.0)
    assert d_scores[0, 0] == 0.0 and np.all(d_scores[1] == 0.0) and np.all(np.isfinite(d_scores))


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_boolean_mask_equals_an_additive_minus_inf_mask(dtype):
    rng = np.random.default_rng(1)
    scores = rng.standard_normal((3, 9)).astype(dtype)
    keep = rng.random((3, 9)) > 0.4
    additive = np.where(keep, 0.0, -np.inf)
    for name in ("softmax", "log_softmax", "logsumexp"):
        kernel = getattr(softmax_kernels, name)
        np.testing.assert_array_equal(kernel.numba(scores, keep, 0.5), kernel.numba(scores, additive, 0.5))


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_softmax_kernel_shift_invariant_at_extreme_logits(dtype):
    scores = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0]], dtype)
    weights = softmax_kernels.softmax.numba(scores, None, 1.0)
    expected = softmax_kernels.softmax.reference(np.array([[1.0, 0.0, -2e4], [0.0, 1.0, 2.0]], dtype), None, 1.0)
    np.testing.assert_allclose(weights, expected, **TOLERANCE[np.dtype(dtype)])


# ----- exp --------------------------------------------------------------------------------------------------------

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


# ----- scatter-add --------------------------------------------------------------------------------------------------

@settings(max_examples=60)
@given(data=st.data(), dtype=st.sampled_from(S.KERNEL_DTYPES), layout=st.sampled_from(S.LAYOUTS))
def test_scatter_add_kernel_equals_np_add_at_with_repeated_rows(data, dtype, layout):
    table_rows, width = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 9))
    rows = data.draw(S.hnp.arrays(np.int64, data.draw(st.integers(0, 12)), elements=st.integers(0, table_rows - 1)))
    values = S.laid_out(data.draw(S.arrays((rows.size, width))).astype(dtype), layout)
    start = data.draw(S.arrays((table_rows, width))).astype(dtype)
    expected = scatter_kernels.scatter_add_rows.reference(start.copy(), rows, values)
    got = scatter_kernels.scatter_add_rows.numba(start.copy(), rows, values)
    assert_same(got, expected)


def test_scatter_add_kernel_refuses_rows_outside_the_table():
    with pytest.raises(IndexError, match="outside"):
        scatter_kernels.scatter_add_rows.numba(np.zeros((3, 2)), np.array([0, 3]), np.ones((2, 2)))


# ----- the switch and the lazy import -----------------------------------------------------------------------------

def run_python(code, **environment):
    env = {**os.environ, **environment}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def test_importing_tinyattn_does_not_import_numba():
    run_python("import sys, tinyattn, tinyattn.functional; assert 'numba' not in sys.modules, 'numba imported'")


def test_environment_variable_selects_the_references():
    code = ("import sys, numpy as np, tinyattn.functional as F, tinyattn.kernels as K; "
            "F.softmax(np.ones((2, 3))); print(K.numba_enabled(), 'numba' in sys.modules)")
    assert run_python(code, TINYATTN_NUMBA="0").stdout.split() == ["False", "False"]
    assert run_python(code, TINYATTN_NUMBA="1").stdout.split() == ["True", "True"]


def test_missing_numba_warns_once_and_uses_the_references():
    code = (
        "import sys, warnings, numpy as np\n"
        "sys.modules['numba'] = None  # as if Numba were not installed\n"
        "import tinyattn.functional as F, tinyattn.kernels as K\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    for _ in range(3):\n"
        "        out = F.softmax(np.array([[0.0, 1.0]]))\n"
        "assert not K.numba_enabled()\n"
        "assert len(caught) == 1 and 'Numba cannot be imported' in str(caught[0].message), caught\n"
        "print(round(float(out.data[0, 1]), 6))\n"
    )
    assert run_python(code, TINYATTN_NUMBA="1").stdout.strip() == str(round(1 / (1 + np.exp(-1.0)), 6))


def test_use_numba_switches_at_run_time():
    code = ("import tinyattn.kernels as K\n"
            "assert K.use_numba(False) is False and not K.numba_enabled()\n"
            "assert K.use_numba(True) is True and K.numba_enabled()\n")
    run_python(code)
