"""Checkpoints: round trips, atomic replacement, and refusal of pickles, truncated and foreign files."""
import io as bytes_io
import os
import pathlib
import pickle
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyattn as ta
import tinyattn.io as tio
from tinyattn.errors import DTypeError
from tinyattn.io import MANIFEST_KEY, CheckpointError, load, save

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def assert_same_array(loaded, expected):
    """Same type, dtype (byte order included), shape and bytes (so NaN payloads and -0.0 count)."""
    expected = np.asarray(expected)
    assert type(loaded) is np.ndarray
    assert loaded.dtype == expected.dtype and loaded.dtype.byteorder == expected.dtype.byteorder
    assert loaded.shape == expected.shape
    assert loaded.tobytes() == np.ascontiguousarray(expected).tobytes()


@pytest.fixture
def old_checkpoint(tmp_path):
    """A folder holding one good checkpoint; returns its path and bytes."""
    path = tmp_path / "model.npz"
    save({"weight": np.arange(6.0).reshape(2, 3), "step": 7}, path)
    return path, path.read_bytes()


def assert_untouched(path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert sorted(os.listdir(path.parent)) == [path.name], "a temporary file was left behind"


# ----- round trips ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8, np.int32, np.int64, np.uint8,
                                   np.bool_, np.complex128, ">f8", "<U5", "S3", "datetime64[s]"])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (4,), (2, 3, 4)])
def test_array_round_trips_with_dtype_shape_and_bytes(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    save({"array": array}, tmp_path / "c.npz")
    assert_same_array(load(tmp_path / "c.npz")["array"], array)


def test_special_floats_round_trip_bit_for_bit(tmp_path):
    array = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max])
    array32 = np.array([np.nan, -np.inf, -0.0, 1e-45, np.finfo(np.float32).max], dtype=np.float32)
    save({"x": array, "x32": array32}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert_same_array(loaded["x"], array)
    assert_same_array(loaded["x32"], array32)


_DTYPES = st.one_of(
    hnp.boolean_dtypes(), hnp.integer_dtypes(endianness="?"), hnp.unsigned_integer_dtypes(endianness="?"),
    hnp.floating_dtypes(endianness="?"), hnp.complex_number_dtypes(endianness="?"),
    hnp.datetime64_dtypes(endianness="?"), hnp.unicode_string_dtypes(), hnp.byte_string_dtypes(),
)


@given(arrays=st.lists(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
                       max_size=4))
def test_any_plain_dtype_and_shape_round_trips(tmp_path_factory, arrays):
    path = tmp_path_factory.mktemp("roundtrip") / "c.npz"
    save({f"a{index}": array for index, array in enumerate(arrays)}, path)
    loaded = load(path)
    assert list(loaded) == [f"a{index}" for index in range(len(arrays))]
    for index, array in enumerate(arrays):
        assert_same_array(loaded[f"a{index}"], array)


def test_non_contiguous_fortran_and_read_only_arrays_round_trip(tmp_path):
    base = np.arange(24.0).reshape(4, 6)
    read_only = base.copy()
    read_only.flags.writeable = False
    state = {"strided": base[::2, 1::3], "transposed": base.T, "fortran": np.asfortranarray(base),
             "read_only": read_only}
    save(state, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    for name, array in state.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].shape == array.shape


def test_loaded_arrays_are_writeable_and_do_not_alias_the_saved_ones(tmp_path):
    weight = np.arange(5.0)
    save({"weight": weight}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")["weight"]
    assert loaded.flags.writeable
    loaded[0] = 99.0
    assert weight[0] == 0.0


def test_tensors_are_saved_as_their_data_and_load_as_arrays(tmp_path):
    tensor = ta.tensor(np.array([[1.5, -2.0]], dtype=np.float32), requires_grad=True)
    parameter = ta.nn.Parameter(np.ones((2, 2)))
    save({"tensor": tensor, "parameter": parameter, "ints": ta.tensor([1, 2, 3])}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert_same_array(loaded["tensor"], tensor.data)
    assert_same_array(loaded["parameter"], parameter.data)
    assert_same_array(loaded["ints"], np.array([1, 2, 3]))


@pytest.mark.parametrize("value", [0, -1, 2**63 - 1, -2**63, 1.5, -0.0, float("inf"), True, False, "", "adam",
                                   "ünïcødé ✓", 3.0])
def test_python_scalars_come_back_with_their_type_and_value(tmp_path, value):
    save({"value": value}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")["value"]
    assert type(loaded) is type(value)
    assert loaded == value and str(loaded) == str(value)  # str tells -0.0 from 0.0


def test_nan_scalar_comes_back_as_a_nan_float(tmp_path):
    save({"value": float("nan")}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")["value"]
    assert type(loaded) is float and np.isnan(loaded)


def test_numpy_scalars_come_back_as_zero_d_arrays_of_their_dtype(tmp_path):
    save({"f32": np.float32(1.25), "i8": np.int8(-3), "f64": np.float64(2.0), "b": np.bool_(True)},
         tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert_same_array(loaded["f32"], np.array(1.25, dtype=np.float32))
    assert_same_array(loaded["i8"], np.array(-3, dtype=np.int8))
    assert_same_array(loaded["f64"], np.array(2.0))
    assert_same_array(loaded["b"], np.array(True))


def test_many_keys_round_trip_in_order(tmp_path):
    rng = np.random.default_rng(1)
    state = {f"layer{index}.weight": rng.standard_normal(3) for index in range(500)}
    state.update({f"layer{index}.step": index for index in range(500)})
    save(state, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert list(loaded) == list(state)
    for name, value in state.items():
        if isinstance(value, int):
            assert loaded[name] == value and type(loaded[name]) is int
        else:
            assert_same_array(loaded[name], value)


@pytest.mark.parametrize("key", ["file", "allow_pickle", "arr_0", "", "a/b", "x.npy", "ünï ✓", "a..b", ".", "a\\b"])
def test_keys_np_savez_would_mishandle_round_trip(tmp_path, key):
    # np.savez takes keys as keyword arguments: "file" raises and "allow_pickle" is silently dropped.
    state = {key: np.array([1.0, 2.0]), "x": np.array([3.0])}
    save(state, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert list(loaded) == [key, "x"]
    assert_same_array(loaded[key], state[key])


@given(keys=st.lists(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8)
                     .filter(lambda key: key != MANIFEST_KEY), unique=True, max_size=6))
def test_any_str_keys_round_trip(tmp_path_factory, keys):
    path = tmp_path_factory.mktemp("keys") / "c.npz"
    save({key: np.array(index) for index, key in enumerate(keys)}, path)
    loaded = load(path)
    assert list(loaded) == keys
    assert [int(value) for value in loaded.values()] == list(range(len(keys)))


def test_nested_mappings_load_nested_as_saved_and_flat_on_request(tmp_path):
    state = {"model": {"encoder": {"weight": np.ones(2)}, "out.bias": np.zeros(1)}, "optimizer": {"lr": 0.1},
             "empty": {}, "epoch": 4}
    save(state, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert list(loaded) == ["model", "optimizer", "empty", "epoch"]
    assert list(loaded["model"]) == ["encoder", "out.bias"]  # a dot inside a key is not a level of nesting
    assert_same_array(loaded["model"]["encoder"]["weight"], np.ones(2))
    assert_same_array(loaded["model"]["out.bias"], np.zeros(1))
    assert loaded["optimizer"] == {"lr": 0.1} and loaded["empty"] == {} and loaded["epoch"] == 4
    assert all(type(part) is dict for part in (loaded, loaded["model"], loaded["model"]["encoder"]))

    flat = load(tmp_path / "c.npz", flat=True)
    assert list(flat) == ["model.encoder.weight", "model.out.bias", "optimizer.lr", "epoch"]
    assert_same_array(flat["model.encoder.weight"], np.ones(2))
    assert flat["optimizer.lr"] == 0.1 and flat["epoch"] == 4
    with np.load(tmp_path / "c.npz", allow_pickle=False) as archive:  # the members keep their dotted names
        assert set(archive.files) == {MANIFEST_KEY, "model.encoder.weight", "model.out.bias", "optimizer.lr", "epoch"}


def test_a_state_dict_with_dotted_keys_comes_back_under_its_own_key(tmp_path):
    model = ta.nn.Sequential(ta.nn.Linear(2, 3, rng=0), ta.nn.Linear(3, 1, rng=1))
    save({"model": model.state_dict(), "model.extra": {"0.weight": np.ones(1)}}, tmp_path / "c.npz")
    loaded = load(tmp_path / "c.npz")
    assert list(loaded) == ["model", "model.extra"]
    assert list(loaded["model"]) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    for name, value in model.state_dict().items():
        assert_same_array(loaded["model"][name], value)
    assert_same_array(loaded["model.extra"]["0.weight"], np.ones(1))


def test_a_version_1_checkpoint_still_loads_flat(tmp_path):
    # What save wrote before the manifest recorded the tree: flat dotted members, their scalars listed.
    manifest = '{"format": "tinyattn checkpoint", "version": 1, "scalars": {"model.step": "int"}}'
    np.savez(tmp_path / "old.npz", **{MANIFEST_KEY: np.array(manifest), "model.out.weight": np.ones(2),
                                      "model.step": np.array(7)})
    for loaded in (load(tmp_path / "old.npz"), load(tmp_path / "old.npz", flat=True)):
        assert list(loaded) == ["model.out.weight", "model.step"]
        assert_same_array(loaded["model.out.weight"], np.ones(2))
        assert loaded["model.step"] == 7 and type(loaded["model.step"]) is int


def test_an_empty_state_round_trips_to_an_empty_dict(tmp_path):
    save({}, tmp_path / "c.npz")
    assert load(tmp_path / "c.npz") == {}


@pytest.mark.parametrize("make_path", [str, pathlib.Path, os.fsencode], ids=["str", "pathlib", "bytes"])
@pytest.mark.parametrize("name", ["checkpoint.npz", "checkpoint", "checkpoint.ckpt"])
def test_file_lands_exactly_at_the_path_given_without_adding_npz(tmp_path, make_path, name):
    path = make_path(os.path.join(str(tmp_path), name))
    save({"w": np.ones(3)}, path)
    assert os.listdir(tmp_path) == [name]
    assert_same_array(load(path)["w"], np.ones(3))


def test_plain_np_savez_files_load_and_np_load_reads_checkpoints(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.arange(3), s=np.array(2.0))
    loaded = load(tmp_path / "plain.npz")
    assert list(loaded) == ["w", "s"]
    assert_same_array(loaded["s"], np.array(2.0))  # no manifest: 0-d arrays stay arrays

    save({"w": np.arange(3), "epoch": 2}, tmp_path / "ours.npz")
    with np.load(tmp_path / "ours.npz", allow_pickle=False) as archive:
        assert set(archive.files) == {MANIFEST_KEY, "w", "epoch"}
        np.testing.assert_array_equal(archive["w"], np.arange(3))


def test_saving_again_replaces_the_checkpoint(old_checkpoint):
    path, _ = old_checkpoint
    save({"weight": np.zeros(1)}, path)
    assert list(load(path)) == ["weight"]
    assert_untouched(path, path.read_bytes())


def test_model_and_optimizer_state_round_trip_through_one_checkpoint(tmp_path):
    from tinyattn.optim import Adam

    def make():
        model = ta.nn.Linear(3, 2, rng=np.random.default_rng(0))
        return model, Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))

    def train_step(model, optimizer, inputs):
        optimizer.zero_grad()
        (model(ta.tensor(inputs)) ** 2).sum().backward()
        optimizer.step()

    inputs = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    model, optimizer = make()
    for _ in range(3):
        train_step(model, optimizer, inputs)
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}, tmp_path / "run.npz")

    checkpoint = load(tmp_path / "run.npz")
    assert checkpoint["epoch"] == 3
    restored_model, restored_optimizer = make()
    restored_model.load_state_dict(checkpoint["model"])
    restored_optimizer.load_state_dict(checkpoint["optimizer"])
    train_step(model, optimizer, inputs)
    train_step(restored_model, restored_optimizer, inputs)
    pairs = zip(model.state_dict().items(), restored_model.state_dict().items(), strict=True)
    for (name, expected), (_, actual) in pairs:
        np.testing.assert_array_equal(actual, expected, err_msg=name)


def _python_child(code, *args, **kwargs):
    """A new Python process running `code` with `args`, importing this checkout's tinyattn."""
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, **kwargs)


# ----- atomicity --------------------------------------------------------------------------------------------------
class _Boom(Exception):
    pass


def _fail_on_second_call(original, exception):
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise exception
        return original(*args, **kwargs)
    return fail


@pytest.mark.parametrize("where", ["write_array", "fsync", "replace"])
def test_a_save_failing_part_way_leaves_the_old_file_byte_identical_and_no_temp_file(
        old_checkpoint, monkeypatch, where):
    path, old_bytes = old_checkpoint
    if where == "write_array":  # the second value fails while being written, after the first was
        monkeypatch.setattr(tio.npy_format, "write_array",
                            _fail_on_second_call(tio.npy_format.write_array, _Boom("conversion failed")))
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(5, "Input/output error")))
    else:
        monkeypatch.setattr(os, "replace", lambda *args: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises((_Boom, OSError)) as excinfo:
        save({"weight": np.ones(4), "bias": np.ones(2), "step": 8}, path)
    assert any(str(path) in note and "untouched" in note for note in excinfo.value.__notes__)
    monkeypatch.undo()
    assert_untouched(path, old_bytes)
    assert load(path)["step"] == 7


def test_an_interrupt_during_save_leaves_the_old_file_and_no_temp_file(old_checkpoint, monkeypatch):
    path, old_bytes = old_checkpoint
    monkeypatch.setattr(tio.npy_format, "write_array",
                        _fail_on_second_call(tio.npy_format.write_array, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save({"weight": np.ones(4), "bias": np.ones(2)}, path)
    assert_untouched(path, old_bytes)


def test_a_crash_between_writing_and_renaming_leaves_the_old_checkpoint_intact(old_checkpoint):
    # A real crash: the process dies inside os.replace, so no cleanup code runs.
    path, old_bytes = old_checkpoint
    script = (
        "import os, sys, numpy as np\n"
        "import tinyattn.io as tio\n"
        "os.replace = lambda *args: os._exit(17)\n"
        "tio.save({'weight': np.full(1000, 3.0), 'step': 8}, sys.argv[1])\n"
    )
    process = _python_child(script, str(path), stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 17, stderr.decode()
    assert path.read_bytes() == old_bytes
    leftovers = [name for name in os.listdir(path.parent) if name != path.name]
    # The leftover is hidden, named after the checkpoint and its writer, and complete: it was written and closed
    # before the rename.
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{path.name}.") and leftovers[0].endswith(".tmp")
    assert f".{process.pid}." in leftovers[0]
    assert load(path.parent / leftovers[0])["step"] == 8
    assert load(path)["step"] == 7
    assert_untouched(path, old_bytes)  # that load removed the leftover: its writer is gone


# ----- orphaned temporaries -------------------------------------------------------------------------------------
posix_only = pytest.mark.skipif(os.name != "posix", reason="liveness of a pid is checked with os.kill(pid, 0)")


def _dead_pid():
    """The pid of a process that has exited and been reaped."""
    child = _python_child("pass")
    child.wait(timeout=120)
    return child.pid


def _save_or_load(path, how):
    if how == "save":
        save({"weight": np.zeros(2), "step": 9}, path)
    else:
        load(path)


@posix_only
@pytest.mark.parametrize("how", ["save", "load"])
def test_a_save_killed_mid_write_leaves_a_temporary_that_the_next_save_or_load_removes(old_checkpoint, how):
    path, old_bytes = old_checkpoint
    script = (
        "import sys, time, numpy as np\n"
        "import tinyattn.io as tio\n"
        "write_array, written = tio.npy_format.write_array, []\n"
        "def write_then_stall(*args, **kwargs):\n"
        "    write_array(*args, **kwargs)\n"
        "    written.append(1)\n"
        "    if len(written) == 2:  # the manifest and the large weight are in the file, 'step' is not\n"
        "        print('writing', flush=True)\n"
        "        time.sleep(600)\n"
        "tio.npy_format.write_array = write_then_stall\n"
        "tio.save({'weight': np.ones(2_000_000), 'step': 8}, sys.argv[1])\n"
    )
    writer = _python_child(script, str(path), stdout=subprocess.PIPE)
    try:
        assert writer.stdout.readline() == b"writing\n"
        writer.kill()  # SIGKILL: no cleanup code of the writer runs
    finally:
        writer.kill()
        writer.wait(timeout=120)
        writer.stdout.close()
    orphans = [name for name in os.listdir(path.parent) if name != path.name]
    assert len(orphans) == 1 and orphans[0].startswith(f".{path.name}.") and f".{writer.pid}." in orphans[0]
    assert os.path.getsize(path.parent / orphans[0]) > 16_000_000
    assert path.read_bytes() == old_bytes

    _save_or_load(path, how)
    assert os.listdir(path.parent) == [path.name]
    assert load(path)["step"] == (9 if how == "save" else 7)


@posix_only
@pytest.mark.parametrize("how", ["save", "load"])
def test_only_temporaries_of_this_checkpoint_whose_writer_is_gone_from_this_host_are_removed(old_checkpoint, how):
    path, _ = old_checkpoint
    folder, dead = path.parent, _dead_pid()
    sleeper = _python_child("import time; time.sleep(600)")
    try:
        orphan = tio._temp_name(path, dead, "0123456789ab")
        kept = {
            "live writer, this process": tio._temp_name(path, os.getpid(), "0123456789ab"),
            "live writer, another process": tio._temp_name(path, sleeper.pid, "0123456789ab"),
            "another host": orphan.replace(tio._writer_id(), "elsewhere"),
            "another pid namespace": orphan.replace(tio._writer_id(), tio._writer_id() + "0"),
            "another checkpoint": tio._temp_name(folder / "other.npz", dead, "0123456789ab"),
            "a checkpoint whose name extends this one": tio._temp_name(folder / f"{path.name}.x", dead, "0123456789ab"),
            "an older tinyattn's temporary": f".{path.name}.0123456789ab.tmp",
            "not a temporary": orphan[:-len(".tmp")],
            "a user's file": f"{path.name}.{dead}.tmp",
        }
        for name in [orphan, *kept.values()]:
            (folder / name).write_bytes(b"partial")
        (folder / tio._temp_name(path, dead, "ba9876543210")).mkdir()  # not a regular file: never removed
        _save_or_load(path, how)
        remaining = set(os.listdir(folder))
        assert orphan not in remaining
        for what, name in kept.items():
            assert name in remaining, what
        assert tio._temp_name(path, dead, "ba9876543210") in remaining
    finally:
        sleeper.kill()
        sleeper.wait(timeout=120)


@posix_only
def test_a_temporary_of_another_users_live_process_is_kept(old_checkpoint, monkeypatch):
    path, _ = old_checkpoint
    temporary = tio._temp_name(path, 4242, "0123456789ab")
    (path.parent / temporary).write_bytes(b"partial")

    def another_users_process(pid, signal):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "kill", another_users_process)
    load(path)
    assert temporary in os.listdir(path.parent)


@posix_only
def test_an_orphan_that_cannot_be_removed_does_not_stop_the_save(old_checkpoint, monkeypatch):
    path, _ = old_checkpoint
    orphan = tio._temp_name(path, _dead_pid(), "0123456789ab")
    (path.parent / orphan).write_bytes(b"partial")
    real_unlink = os.unlink

    def refuse_the_orphan(name, *args, **kwargs):
        if os.path.basename(name) == orphan:
            raise PermissionError(13, "Permission denied", name)
        return real_unlink(name, *args, **kwargs)
    monkeypatch.setattr(os, "unlink", refuse_the_orphan)
    save({"step": 9}, path)
    assert load(path) == {"step": 9}
    assert sorted(os.listdir(path.parent)) == sorted([path.name, orphan])


def test_save_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd):
        events.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def spy_replace(source, destination):
        events.append("replace")
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    save({"w": np.ones(2)}, tmp_path / "c.npz")
    expected = ["fsync file", "replace"] + (["fsync folder"] if hasattr(os, "O_DIRECTORY") else [])
    assert events == expected


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_new_checkpoint_honours_the_umask_and_a_replaced_one_keeps_its_permissions(tmp_path):
    previous_umask = os.umask(0o027)
    try:
        save({"w": np.ones(1)}, tmp_path / "new.npz")
    finally:
        os.umask(previous_umask)
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o640
    os.chmod(tmp_path / "new.npz", 0o600)
    save({"w": np.zeros(1)}, tmp_path / "new.npz")
    assert stat.S_IMODE(os.stat(tmp_path / "new.npz").st_mode) == 0o600


def test_saving_into_a_missing_folder_names_the_folder_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder") as excinfo:
        save({"w": np.ones(1)}, tmp_path / "missing" / "c.npz")
    assert excinfo.value.filename == str(tmp_path / "missing")
    assert os.listdir(tmp_path) == []


def test_saving_onto_a_folder_is_refused_and_leaves_nothing(tmp_path):
    (tmp_path / "c.npz").mkdir()
    with pytest.raises(IsADirectoryError):
        save({"w": np.ones(1)}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == ["c.npz"] and os.listdir(tmp_path / "c.npz") == []


# ----- values refused before anything is written ------------------------------------------------------------------
def _cycle():
    state = {"w": np.ones(1)}
    state["again"] = state
    return state


_REFUSED = [
    ({"w": [1.0, 2.0]}, TypeError, ["'w'", "list", "np.asarray"]),
    ({"w": (1, 2)}, TypeError, ["'w'", "tuple"]),
    ({"w": None}, TypeError, ["'w'", "NoneType"]),
    ({"w": {1.0, 2.0}}, TypeError, ["'w'", "set"]),
    ({"w": 1 + 2j}, TypeError, ["'w'", "complex"]),
    ({"w": np.array([object()], dtype=object)}, DTypeError, ["'w'", "object", "pickl"]),
    ({"w": np.zeros(2, dtype=[("a", "f8"), ("b", "O")])}, DTypeError, ["'w'", "pickl"]),
    ({"w": np.array(["a", "bb"], dtype=np.dtypes.StringDType())}, DTypeError, ["'w'", "StringDType"]),
    ({"w": np.ma.masked_array([1.0, 2.0], mask=[True, False])}, TypeError, ["'w'", "masked"]),
    ({"w": 2**63}, ValueError, ["'w'", "int64"]),
    ({"w": "adam\x00"}, ValueError, ["'w'", "NUL"]),
    ({3: np.ones(1)}, TypeError, ["3", "int", "str"]),
    ({"model": {("a", 1): np.ones(1)}}, TypeError, ["('a', 1)", "tuple", "'model'"]),
    ({MANIFEST_KEY: np.ones(1)}, ValueError, [MANIFEST_KEY, "reserved"]),
    ({"a\x00b": np.ones(1)}, ValueError, ["NUL"]),
    ({"a\ud800": np.ones(1)}, ValueError, ["surrogate"]),
    ({"a.b": 1, "a": {"b": 2}}, ValueError, ["'a.b'", "twice"]),
    (_cycle(), ValueError, ["again", "contains itself"]),
    ([("w", np.ones(1))], TypeError, ["mapping", "list"]),
]


_REFUSED_IDS = ["list", "tuple", "none", "set", "complex", "object-array", "structured-with-object", "string-dtype",
                "masked-array", "int-beyond-int64", "str-ending-in-nul", "int-key", "tuple-key-nested", "reserved-key",
                "key-with-nul", "key-with-surrogate", "key-twice-once-flattened", "cycle", "not-a-mapping"]


@pytest.mark.parametrize("state, error, words", _REFUSED, ids=_REFUSED_IDS)
def test_unsupported_values_are_refused_by_name_before_anything_is_written(
        old_checkpoint, monkeypatch, state, error, words):
    path, old_bytes = old_checkpoint
    if isinstance(state, dict):
        state = {"fine": np.ones(3), **state}  # a good entry first: nothing of it may be written either

    def no_disk(*args, **kwargs):
        raise AssertionError("save touched the disk before checking every value")
    monkeypatch.setattr(os, "open", no_disk)
    with pytest.raises(error) as excinfo:
        save(state, path)
    monkeypatch.undo()
    message = str(excinfo.value)
    assert str(path) in message
    for word in words:
        assert word in message.replace(str(path), "")  # the test's folder name must not supply the word
    assert_untouched(path, old_bytes)


def test_a_path_of_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(TypeError, match="path must be a str or os.PathLike, got int"):
        save({"w": np.ones(1)}, 3)
    with pytest.raises(TypeError, match="got NoneType"):
        load(None)


# ----- loading bad files ------------------------------------------------------------------------------------------
class _Trap:
    """Unpickling this creates the folder `marker`: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _npy_bytes_with_pickled_payload(trap):
    buffer = bytes_io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    buffer.write(pickle.dumps(np.array([trap], dtype=object)))
    return buffer.getvalue()


def assert_clear_load_error(path, *words):
    """load(path) raises a CheckpointError naming the file and the words, with no chained library traceback."""
    with pytest.raises(CheckpointError) as excinfo:
        load(path)
    error = excinfo.value
    assert isinstance(error, ValueError)
    assert str(path) in str(error)
    for word in words:
        assert word in str(error).replace(str(path), "")  # the test's folder name must not supply the word
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return error


def test_an_npz_holding_an_object_array_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", weight=np.ones(2), config=np.array([{"lr": 0.1}], dtype=object), allow_pickle=True)
    assert_clear_load_error(tmp_path / "c.npz", "'config'", "pickle")


def test_a_hand_made_npz_whose_pickle_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    with zipfile.ZipFile(tmp_path / "c.npz", "w") as archive:
        archive.writestr("weight.npy", _npy_bytes_with_pickled_payload(_Trap(marker)))
    assert_clear_load_error(tmp_path / "c.npz", "'weight'", "pickle")
    assert not marker.exists()
    # The trap is live: a loader that unpickles runs it.
    with np.load(tmp_path / "c.npz", allow_pickle=True) as archive:
        archive["weight"]
    assert marker.exists()


def test_a_raw_pickle_file_is_refused_and_runs_nothing(tmp_path):
    # What pickle.dump or an old torch.save writes.
    marker = tmp_path / "marker"
    payload = pickle.dumps({"weight": _Trap(marker)})
    (tmp_path / "c.npz").write_bytes(payload)
    assert_clear_load_error(tmp_path / "c.npz", "pickle")
    assert not marker.exists()
    pickle.loads(payload)
    assert marker.exists()


def test_a_zip_with_a_pickle_member_is_refused_and_runs_nothing(tmp_path):
    # The layout of a modern torch.save file: a zip around a pickle.
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Trap(marker))
    with zipfile.ZipFile(tmp_path / "c.pt", "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    assert_clear_load_error(tmp_path / "c.pt", "'archive/data.pkl'", "pickle")
    assert not marker.exists()


@pytest.mark.parametrize("keep", [lambda size: size // 2, lambda size: size - 1, lambda size: size - 30,
                                  lambda size: 4, lambda size: 100],
                         ids=["half", "all-but-1", "all-but-30", "signature-only", "first-100"])
def test_a_truncated_checkpoint_gives_a_clear_error_naming_the_file(tmp_path, keep):
    path = tmp_path / "c.npz"
    save({"weight": np.arange(1000.0), "step": 3}, path)
    data = path.read_bytes()
    path.write_bytes(data[:keep(len(data))])
    assert_clear_load_error(path, "truncated or corrupt")


def test_a_corrupted_byte_in_an_array_is_detected_and_names_the_key(tmp_path):
    path = tmp_path / "c.npz"
    save({"weight": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside weight's 8000 bytes of data
    path.write_bytes(bytes(data))
    assert_clear_load_error(path, "corrupt", "'weight'")


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")


@pytest.mark.parametrize("write, words", [
    (lambda path: path.write_bytes(np.random.default_rng(0).bytes(300)), ["not an .npz archive"]),
    (lambda path: path.write_text("weight = [1, 2, 3]\n"), ["not an .npz archive", "weight ="]),
    (lambda path: path.write_bytes(b""), ["empty"]),
    (lambda path: np.save(path, np.ones(3)), [".npy"]),
    (_zip_of_text, ["'readme.txt'", "not a .npy array"]),
], ids=["random-bytes", "text", "empty", "single-npy", "zip-of-text"])
def test_a_foreign_file_gives_a_clear_error_naming_the_file(tmp_path, write, words):
    path = tmp_path / "c.npz"
    write(path)
    if not path.exists():  # np.save appended .npy
        os.rename(str(path) + ".npy", path)
    assert_clear_load_error(path, *words)


@pytest.mark.parametrize("manifest, words", [
    (np.array("not json"), ["not JSON"]),
    (np.array([1, 2]), ["0-d string"]),
    (np.array('{"version": 99, "scalars": {}}'), ["newer tinyattn", "99"]),
    (np.array('{"version": 1, "scalars": {"step": "complex"}}'), ["'complex'"]),
    (np.array('{"version": 1, "scalars": {"missing": "int"}}'), ["'missing'", "nothing"]),
    (np.array('{"version": 1, "scalars": {"step": "str"}}'), ["'step'", "str"]),
    (np.array('{"version": 2, "scalars": {}}'), ["version 2 needs a 'tree'"]),
    (np.array('{"version": 2, "scalars": {}, "tree": {"a": "nope", "step": "step"}}'), ["'nope'", "not an entry"]),
    (np.array('{"version": 2, "scalars": {}, "tree": {"a": "step", "b": "step"}}'), ["'step'", "named twice"]),
    (np.array('{"version": 2, "scalars": {}, "tree": {"step": 3}}'), ["3", "'step'"]),
    (np.array('{"version": 2, "scalars": {}, "tree": {}}'), ["leaves out", "'step'"]),
], ids=["not-json", "not-a-string", "newer-version", "unknown-type", "missing-key", "wrong-kind", "no-tree",
        "tree-names-a-missing-entry", "tree-names-an-entry-twice", "tree-leaf-not-a-name", "tree-leaves-one-out"])
def test_a_malformed_manifest_is_refused(tmp_path, manifest, words):
    np.savez(tmp_path / "c.npz", **{MANIFEST_KEY: manifest, "step": np.array(3)})
    assert_clear_load_error(tmp_path / "c.npz", *words)


def _zip_with_a_duplicated_member(path):
    with zipfile.ZipFile(path, "w") as archive:
        for value in (1.0, 2.0):
            buffer = bytes_io.BytesIO()
            np.lib.format.write_array(buffer, np.array([value]))
            archive.writestr("w.npy", buffer.getvalue())


def test_a_duplicated_member_is_refused(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        _zip_with_a_duplicated_member(tmp_path / "c.npz")
    assert_clear_load_error(tmp_path / "c.npz", "'w'", "twice")


def test_a_missing_file_raises_file_not_found_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError) as excinfo:
        load(tmp_path / "absent.npz")
    assert excinfo.value.filename == str(tmp_path / "absent.npz")
    assert str(tmp_path / "absent.npz") in str(excinfo.value)


def test_loading_a_folder_raises_an_os_error_naming_it(tmp_path):
    with pytest.raises(OSError) as excinfo:
        load(tmp_path)
    assert not isinstance(excinfo.value, CheckpointError)
    assert excinfo.value.filename == str(tmp_path)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count open files")
def test_load_reads_everything_and_closes_the_file(tmp_path):
    save({"w": np.arange(10.0), "b": np.ones(2)}, tmp_path / "c.npz")
    open_before = len(os.listdir("/proc/self/fd"))
    loaded = load(tmp_path / "c.npz")
    assert len(os.listdir("/proc/self/fd")) == open_before
    assert type(loaded) is dict
    os.remove(tmp_path / "c.npz")  # the values do not depend on the file any more
    np.testing.assert_array_equal(loaded["w"], np.arange(10.0))
