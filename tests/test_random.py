"""tinyattn.random: a generator's state through a checkpoint, bad states refused, and training resumed exactly."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinyattn as ta
import tinyattn.random as tr

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def draws(rng):
    """A mix of draws that reads every part of the state, the buffered half of a 64-bit word included."""
    return [rng.integers(0, 2**32, size=3, dtype=np.uint32).tolist(), rng.random(4).tolist(),
            rng.standard_normal(3).tolist()]


# ----- get_state and set_state --------------------------------------------------------------------------------------

@pytest.mark.parametrize("buffered", [False, True], ids=["whole-words", "half-a-word-buffered"])
def test_a_generator_state_round_trips_through_a_checkpoint(tmp_path, buffered):
    rng = np.random.default_rng(5)
    rng.integers(0, 10, size=1 if buffered else 2, dtype=np.uint32)  # an odd count leaves half a word buffered
    state = tr.get_state(rng)
    assert state["has_uint32"] == int(buffered)
    expected = draws(rng)

    ta.save({"random": state}, tmp_path / "c.npz")
    loaded = ta.load(tmp_path / "c.npz")["random"]
    assert set(loaded) == set(state)
    other = np.random.default_rng(99)
    assert tr.set_state(loaded, other) is other
    assert draws(other) == expected


def test_set_state_without_a_generator_restores_the_default_one():
    ta.manual_seed(11)
    state = tr.get_state()
    expected = draws(tr.default_generator())
    ta.manual_seed(12)
    tr.set_state(state)
    assert draws(tr.default_generator()) == expected


def _good_state():
    return tr.get_state(np.random.default_rng(3))


def _with(**changes):
    state = _good_state()
    state.update(changes)
    return state


def _without(key):
    state = _good_state()
    del state[key]
    return state


BAD_STATES = {
    "not-a-mapping": ([1, 2, 3], ValueError, ["mapping", "list"]),
    "missing-key": (_without("inc"), ValueError, ["misses ['inc']"]),
    "unexpected-key": (_with(seed=3), ValueError, ["unexpected ['seed']"]),
    "another-bit-generator": (_with(bit_generator="MT19937"), ValueError, ["'MT19937'", "PCG64"]),
    "state-of-int64": (_with(state=np.array([1, 2])), ValueError, ["'state'", "uint64", "int64"]),
    "inc-of-wrong-shape": (_with(inc=np.ones(3, np.uint64)), ValueError, ["'inc'", "(3,)"]),
    "even-inc": (_with(inc=np.array([0, 2], np.uint64)), ValueError, ["'inc'", "even"]),
    "has-uint32-of-2": (_with(has_uint32=2), ValueError, ["'has_uint32'", "[0, 2)", "2"]),
    "uinteger-of-2**32": (_with(uinteger=2**32), ValueError, ["'uinteger'", "4294967296"]),
    "uinteger-a-string": (_with(uinteger="7"), ValueError, ["'uinteger'", "'7'"]),
}


@pytest.mark.parametrize("state, error, words", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_a_bad_state_is_refused_naming_what_is_wrong_and_the_generator_is_unchanged(state, error, words):
    rng = np.random.default_rng(8)
    before = rng.bit_generator.state
    with pytest.raises(error) as caught:
        tr.set_state(state, rng)
    message = str(caught.value)
    assert message.startswith("set_state: ")
    for word in words:
        assert word in message
    assert rng.bit_generator.state == before


def test_only_pcg64_generators_are_saved_or_restored():
    other = np.random.Generator(np.random.MT19937(0))
    with pytest.raises(TypeError, match="PCG64"):
        tr.get_state(other)
    before = other.bit_generator.state
    with pytest.raises(TypeError, match="target generator uses MT19937"):
        tr.set_state(_good_state(), other)
    assert other.bit_generator.state["state"]["key"].tolist() == before["state"]["key"].tolist()


# ----- resuming training exactly, in a new process ------------------------------------------------------------------

# A tiny regression model with dropout, trained with Adam on batches drawn from the default generator, so that both
# the batches and the dropout masks depend on the random state. Arguments: steps, the checkpoint to resume from
# ("-" for none), whether to restore the random state from it, and the checkpoint to write at the end.
TRAIN = """
import sys
import numpy as np
import tinyattn as ta
import tinyattn.random as tr
from tinyattn import nn, optim

steps, resume_from, restore_random, out = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "yes", sys.argv[4]
ta.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 2))
optimizer = optim.Adam(model.parameters(), lr=0.01)
if resume_from != "-":
    checkpoint = ta.load(resume_from)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if restore_random:
        tr.set_state(checkpoint["random"])
for _ in range(steps):
    inputs = tr.generator().standard_normal((8, 4)).astype(np.float32)
    targets = inputs[:, :2] * 2.0
    difference = model(inputs) - targets
    loss = (difference * difference).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
ta.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "random": tr.get_state()}, out)
"""


def _train(tmp_path, steps, resume_from, out, restore_random=True):
    result = subprocess.run(
        [sys.executable, "-c", TRAIN, str(steps), str(resume_from), "yes" if restore_random else "no",
         str(tmp_path / out)],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return ta.load(tmp_path / out, flat=True)


def _differences(first, second):
    assert first.keys() == second.keys()
    return [key for key in first if np.asarray(first[key]).tobytes() != np.asarray(second[key]).tobytes()]


def test_training_resumed_in_a_new_process_matches_an_uninterrupted_run_bit_for_bit(tmp_path):
    straight = _train(tmp_path, 7, "-", "straight.npz")
    _train(tmp_path, 4, "-", "after-4.npz")
    resumed = _train(tmp_path, 3, tmp_path / "after-4.npz", "resumed.npz")
    assert _differences(straight, resumed) == []  # parameters, Adam's moments and the generator, byte for byte

    # The random state is what makes this exact: resumed without it, the batches and the masks differ.
    unseeded = _train(tmp_path, 3, tmp_path / "after-4.npz", "no-random.npz", restore_random=False)
    assert "model.0.weight" in _differences(straight, unseeded)
