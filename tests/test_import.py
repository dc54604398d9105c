"""What `import tinyattn` loads, and how tinyattn runs without Numba.

Each check runs in a fresh interpreter, since the modules already imported by this test process would hide it.
"""
import json
import os
import subprocess
import sys

import pytest

HEAVY = ["tinyattn.attention", "tinyattn.functional", "tinyattn.io", "tinyattn.nn", "tinyattn.optim", "tinyattn.viz"]


def run_python(code, **environment):
    env = {key: value for key, value in os.environ.items() if key != "TINYATTN_NUMBA"}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def loaded_after(statement):
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    return set(json.loads(run_python(code)))


def test_a_bare_import_loads_the_engine_and_none_of_the_larger_parts():
    modules = loaded_after("import tinyattn")
    assert {"tinyattn.tensor", "tinyattn.engine", "tinyattn.primitive", "tinyattn.ops"} <= modules
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert "numba" not in modules
    assert "logging" not in modules


def test_the_functional_namespace_loads_no_layer_attention_or_io_module():
    modules = loaded_after("import tinyattn.functional")
    assert "tinyattn.functional" in modules
    assert not modules & (set(HEAVY) - {"tinyattn.functional"})
    assert "numba" not in modules


def test_nn_names_the_attention_layers_but_loads_them_only_when_asked():
    code = (
        "import sys, tinyattn.nn as nn\n"
        "assert 'tinyattn.attention' not in sys.modules\n"
        "assert {'MultiHeadAttention', 'TransformerEncoderLayer'} <= set(dir(nn))\n"
        "from tinyattn.nn import TransformerDecoderLayer\n"
        "import tinyattn.attention as attention\n"
        "assert nn.MultiHeadAttention is attention.MultiHeadAttention\n"
        "assert TransformerDecoderLayer is attention.TransformerDecoderLayer\n"
        "try:\n"
        "    nn.NoSuchLayer\n"
        "except AttributeError as error:\n"
        "    assert 'NoSuchLayer' in str(error)\n"
        "else:\n"
        "    raise AssertionError('nn.NoSuchLayer did not raise')\n"
    )
    run_python(code)


@pytest.mark.parametrize("name", ["nn", "optim", "attention", "viz", "io", "functional"])
def test_a_submodule_loads_on_first_attribute_access(name):
    code = (
        "import sys, tinyattn as ta\n"
        f"assert 'tinyattn.{name}' not in sys.modules\n"
        f"module = ta.{name}\n"
        f"assert module is sys.modules['tinyattn.{name}'] and module.__name__ == 'tinyattn.{name}'\n"
        f"assert '{name}' in dir(ta)\n"
    )
    run_python(code)


def test_save_and_load_are_reachable_from_the_top_level_and_unknown_names_raise_attribute_error():
    code = (
        "import tinyattn as ta, tinyattn.io\n"
        "assert ta.save is tinyattn.io.save and ta.load is tinyattn.io.load\n"
        "try:\n"
        "    ta.no_such_thing\n"
        "except AttributeError as error:\n"
        "    assert 'no_such_thing' in str(error)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
        "from tinyattn import nn, save\n"
    )
    run_python(code)


def numba_warnings_when_training_without_numba(tinyattn_numba):
    """Train a small model for two steps where Numba cannot be imported (`sys.modules['numba'] = None` makes
    `import numba` fail as it does where Numba is not installed); returns (the Numba warnings' messages, whether the
    kernels said Numba was on)."""
    code = (
        "import json, sys, warnings\n"
        "sys.modules['numba'] = None\n"
        "import numpy as np, tinyattn as ta, tinyattn.functional as F, tinyattn.kernels as K\n"
        "from tinyattn import nn, optim\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    layer = nn.Linear(4, 3, rng=0)\n"
        "    opt = optim.Adam(layer.parameters(), lr=0.1)\n"
        "    x, y = np.ones((5, 4), np.float32), np.array([0, 1, 2, 0, 1])\n"
        "    for _ in range(2):\n"
        "        opt.zero_grad()\n"
        "        loss = F.cross_entropy(F.log_softmax(layer(x)), y) + F.layer_norm(layer(x)).sum() * 0\n"
        "        loss.backward()\n"
        "        opt.step()\n"
        "        assert np.isfinite(loss.item())\n"
        "print(json.dumps([[str(w.message) for w in caught if 'Numba' in str(w.message)], K.numba_enabled()]))\n"
    )
    messages, enabled = json.loads(run_python(code, TINYATTN_NUMBA=tinyattn_numba))
    return messages, enabled


def test_without_numba_everything_runs_after_one_warning_that_names_the_fast_extra():
    messages, enabled = numba_warnings_when_training_without_numba("1")
    assert not enabled
    assert len(messages) == 1, messages
    assert "pip install 'tinyattn[fast]'" in messages[0] and "TINYATTN_NUMBA=0" in messages[0], messages


def test_without_numba_tinyattn_numba_0_silences_the_warning():
    messages, enabled = numba_warnings_when_training_without_numba("0")
    assert not enabled
    assert messages == []
