"""Hypothesis profiles: `ci` (derandomized, chosen when the CI variable is set) and `dev` (random); the `kernels`
fixture, which runs a test once with the Numba kernels and once with the NumPy references; and one BLAS thread for
the demos' tests, as the demos themselves ask for."""
import os

import pytest
from hypothesis import HealthCheck, settings

from tinyattn.kernels import numba_enabled, use_numba

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(params=["numba", "references"])
def kernels(request):
    """Run the test once with the Numba kernels selected and once with the NumPy references (the switch is set for
    the whole test, so every Hypothesis example of it shares the setting: pass HealthCheck.function_scoped_fixture)."""
    before = numba_enabled()
    use_numba(request.param == "numba")
    yield request.param
    use_numba(before)


@pytest.fixture(autouse=True)
def one_blas_thread_in_demo_tests(request):
    """One BLAS thread while a demo's test runs (tests/test_demo*.py), as the demos ask for (demos/__init__.py sets
    OPENBLAS_NUM_THREADS=1 before NumPy loads). Under pytest NumPy is loaded before demos/ is imported, so the
    setting comes too late; with two threads fighting over small matrix products a demo's learning test took 30 s
    instead of 8. Needs threadpoolctl (the `fast` extra); without it, BLAS is left as it is."""
    if not request.module.__name__.startswith("test_demo"):
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
