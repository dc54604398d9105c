"""The switch between the Numba kernels and the NumPy references (tinyattn/kernels/switch.py): the environment
variable, use_numba at run time, the lazy import of Numba, and what happens without it. Each test runs a fresh
Python process, so that the switch starts undecided and Numba unimported."""
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
