"""Hypothesis profiles: `ci` (derandomized, chosen when the CI variable is set) and `dev` (random); the `kernels`
fixture, which runs a test once with the Numba kernels and once with the NumPy references."""
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
