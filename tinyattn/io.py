"""Checkpoints: save a nested mapping of names to arrays to an ``.npz`` file, atomically, and load it back, nested as
it was saved, without pickle.

    ta.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}, "run/last.npz")
    checkpoint = ta.load("run/last.npz")    # {"model": {"out.weight": array(...), ...}, "optimizer": {...}, "epoch": 3}
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])

Format. A checkpoint is an uncompressed ``.npz`` archive, the format ``np.savez`` writes: a zip file with one
``<name>.npy`` member per entry, so ``np.load(path)`` reads it without tinyattn. A member's name is the entry's key
path joined with ".": ``model.out.weight``. One more member, ``__tinyattn__``, holds a 0-d string array of JSON, the
manifest: the format version, which entries were Python scalars (so that ``3`` comes back as ``3`` and not as
``array(3)``), and the tree of the saved mappings, whose leaves name the members. The dots cannot tell the nesting
(a state_dict's keys hold dots too: "out.weight"), the tree does: ``load`` rebuilds the nested dicts from it, and
``load(path, flat=True)`` gives the flat dict of member names instead. Files of format version 1 (no tree) and plain
``np.savez`` files (no manifest) load flat, the latter as a dict of arrays.

Atomicity. ``save`` writes a temporary file in the destination's folder, flushes and fsyncs it, renames it over the
destination with ``os.replace`` (atomic on POSIX and on Windows within one volume), then fsyncs the folder so the
rename itself survives a power cut. At every instant the destination holds either the previous checkpoint, whole, or
the new one, whole: a crash or an exception part-way leaves the previous checkpoint untouched.

Orphans. An exception removes the temporary file, but a process killed mid-save (SIGKILL, the out-of-memory killer, a
power cut) leaves it behind. Its name says who wrote it, ``.<name>.<host>.<pid>.<random>.tmp`` (the host part also
names the Linux pid namespace, as containers sharing a folder may share a hostname), so the next ``save`` or ``load``
of the same path removes the temporaries of that path whose writer is gone: written on this host and pid namespace,
by a process id that no longer exists. A temporary of a live process, of another host or of another checkpoint is
never touched, nor is any other file. (A dead writer's pid reused by a new process keeps its orphan until that
process ends. Windows has no safe liveness check, so orphans stay there.)

No pickle. Unpickling runs code: a pickle names callables and their arguments, and loading calls them, so loading an
untrusted pickle (a downloaded ``torch.save`` file, an object array in an ``.npz``) can do anything the user can.
``save`` refuses values that could only be stored by pickling and ``load`` reads with ``allow_pickle=False``;
``load`` never unpickles, whatever the file holds.

Restoring. ``restored_array`` turns a loaded value into a parameter's or a buffer's dtype, refusing what the cast
would garble; ``Module.load_state_dict`` and the optimisers' ``load_state_dict`` use it to check every value before
they write any.
"""
import errno
import json
import logging
import os
import re
import secrets
import socket
import stat
import zipfile
from collections.abc import Mapping

import numpy as np
from numpy.lib import format as npy_format

from tinyattn.errors import CheckpointError, DTypeError
from tinyattn.tensor import Tensor

logger = logging.getLogger(__name__)

#: The name of the member that describes the checkpoint; no entry may use it.
MANIFEST_KEY = "__tinyattn__"
#: The version of the format ``save`` writes; ``load`` reads this version and older ones. 2 added the tree.
FORMAT_VERSION = 2

# Python scalar type -> its name in the manifest, and the dtype kind it is stored as. bool before int: bool is an int.
_SCALAR_TYPES = (("bool", bool, "b"), ("int", int, "i"), ("float", float, "f"), ("str", str, "U"))
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members; an empty zip
_SYNC_UNSUPPORTED = {errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EOPNOTSUPP}


def save(state, path):
    """Write `state` to the file `path`, atomically: a crash or an exception part-way leaves `path` as it was.

    Args:
        state: a mapping from str keys to values, each one of
            - a NumPy array (any shape, 0-d and empty included; any dtype but object) or a NumPy scalar,
              loaded back as an array of the same dtype and shape (a NumPy scalar as a 0-d array);
            - a Tensor, whose ``.data`` is saved, loaded back as an array;
            - a Python int (within int64), float, bool or str, loaded back as the same Python type;
            - a nested mapping (a state_dict, another checkpoint's part), loaded back as a dict of the same keys,
              in the same order; an empty one too. Its entries are stored as members named by their key path
              joined with ".": ``{"model": {"out.weight": w}}`` gives the member ``model.out.weight``.
        path: a str or os.PathLike. The file is written exactly there: no ".npz" is appended (unlike np.savez),
            though ".npz" is the conventional suffix. A file already there is replaced (a symlink itself is replaced,
            not its target) and its permission bits are kept; a new file gets the usual ``0o666 & ~umask``.

    Every value is checked before anything touches the disk. Raises TypeError (DTypeError for an object or other
    pickle-only dtype) or ValueError naming the key and its type for: a key that is not a str, a value of another
    type (list, None, ...), two key paths that give one member name (``{"a.b": 1, "a": {"b": 2}}``), a mapping
    that contains itself, an int outside int64, a str ending in NUL characters (.npy strings drop them), a key
    holding NUL or a lone surrogate, and the reserved key "__tinyattn__". Then the temporaries of `path` left by
    writers that were killed are removed (see the module's docstring). If writing fails (disk full, ...) the error
    propagates with a note, the temporary file is removed and `path` is untouched.
    """
    path = _as_path(path)
    entries, scalars, tree = _flatten(state, path)
    manifest = json.dumps({"format": "tinyattn checkpoint", "version": FORMAT_VERSION, "scalars": scalars,
                           "tree": tree})
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "save: cannot replace a folder with a checkpoint", path)
    _remove_orphans(path, folder)  # first: a disk filled by orphans may lack the room for this checkpoint
    temp_path, file = _create_temp_file(path, folder)
    try:
        with file:
            _write_npz(file, [(MANIFEST_KEY, np.array(manifest)), *entries.items()])
            file.flush()
            os.fsync(file.fileno())  # the data must be on disk before the rename makes it the checkpoint
        os.replace(temp_path, path)
    except BaseException as exc:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        if isinstance(exc, Exception):
            exc.add_note(f"while saving the checkpoint {path!r}: nothing was written there, the previous file "
                         "(if any) is untouched")
        raise
    _sync_folder(folder, path)


def load(path, *, flat=False):
    """Read a checkpoint written by ``save`` (or any ``np.savez`` file without object arrays) into a dict.

    Returns new dicts nested as the state given to ``save`` was, in the order it was saved: ``{"model":
    {"out.weight": array(...), ...}, "optimizer": {...}, "epoch": 3}``, ready for
    ``model.load_state_dict(checkpoint["model"])``. Arrays are fresh and writeable; the entries saved as Python
    scalars come back as Python int, float, bool or str. With ``flat=True``, one flat dict of the member names
    (key paths joined with ".": ``"model.out.weight"``) instead. A file of format version 1 (tinyattn before the
    tree) or a plain ``np.savez`` file loads flat either way. The file is read completely and closed before
    returning; the temporaries of `path` left by killed writers are removed (see the module's docstring).

    Never unpickles (``np.load(..., allow_pickle=False)``). Raises FileNotFoundError if there is no file at `path`,
    and CheckpointError (a ValueError) naming the file and the problem if it is not a checkpoint: empty, not a zip
    archive (random bytes, text, a raw pickle such as a ``torch.save`` file, a single ``.npy``), truncated or
    corrupt, holding a member that is not a ``.npy`` array, holding an object array (stored as a pickle), with a
    malformed manifest, or written by a newer tinyattn.
    """
    path = _as_path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(errno.ENOENT, "load: no checkpoint file at", path)
    _remove_orphans(path, os.path.dirname(os.path.abspath(path)))
    with open(path, "rb") as file:
        problem = _foreign_file_problem(file.read(8))
        if problem:
            raise CheckpointError(f"load: {path!r} is not a checkpoint: {problem}")
        file.seek(0)
        try:
            with np.load(file, allow_pickle=False) as archive:
                entries = _read_members(archive, path)
        except CheckpointError:
            raise
        # A damaged archive can fail in zipfile, zlib, struct or numpy's header parser, with many exception types;
        # all of them mean the same thing here, and the caller should not see a traceback from inside zipfile.
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"load: {path!r} is truncated or corrupt, not a readable .npz archive "
                                  f"({type(exc).__name__}: {exc})") from None
    entries, tree = _read_manifest(entries, path)
    if tree is None:
        return entries
    nested = _nest(tree, dict(entries), path)  # built even when flat: it checks the tree against the members
    return entries if flat else nested


# ----- save -------------------------------------------------------------------------------------------------------
def _as_path(path):
    if isinstance(path, bytes):
        return os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(os.fspath(path))


def _flatten(state, path):
    """(member name -> array, member name -> scalar type name, tree) for every leaf of `state`, checked; no I/O.

    The tree has the keys of `state`, nested as they are there, and the member name of each leaf as its value.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"save({path!r}): state must be a mapping of str keys to arrays, got {type(state).__name__}")
    entries, scalars = {}, {}

    def visit(mapping, prefix, ancestors):
        tree = {}
        for key, value in mapping.items():
            if not isinstance(key, str):
                where = f" inside {prefix[:-1]!r}" if prefix else ""
                raise TypeError(f"save({path!r}): key {key!r}{where} is a {type(key).__name__}; keys must be str")
            name = prefix + key
            if isinstance(value, Mapping):
                if id(value) in ancestors:
                    raise ValueError(f"save({path!r}): the mapping at key {name!r} contains itself")
                tree[key] = visit(value, name + ".", ancestors | {id(value)})
                continue
            _check_key(name, path)
            if name in entries:
                raise ValueError(f"save({path!r}): key {name!r} appears twice once nested keys are joined with '.'")
            entries[name], scalar_type = _to_array(name, value, path)
            if scalar_type:
                scalars[name] = scalar_type
            tree[key] = name
        return tree

    tree = visit(state, "", {id(state)})
    return entries, scalars, tree


def _check_key(name, path):
    if name == MANIFEST_KEY:
        raise ValueError(f"save({path!r}): key {name!r} is reserved for the checkpoint's manifest")
    # zipfile cuts a member name at a NUL (and rewrites os.sep on Windows), and stores it as UTF-8: such a key
    # would not come back, or would fail half-way through the write.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"save({path!r}): key {name!r} is not valid Unicode (a lone surrogate)") from None
    if zipfile.ZipInfo(name + ".npy").filename != name + ".npy":
        raise ValueError(f"save({path!r}): key {name!r} cannot be stored as a zip member name (NUL character "
                         f"or {os.sep!r})")


def _to_array(name, value, path):
    """(the array to write, the Python scalar type name or None), or an error naming the key and the type."""
    where = f"save({path!r}): key {name!r}"
    scalar_type = None
    if isinstance(value, Tensor):
        array = value.data
    elif isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{where} holds a masked array, whose mask would be lost; save .data and .mask apart")
    elif isinstance(value, (np.ndarray, np.generic)):  # before the Python types: np.float64 is a float
        array = np.asarray(value)
    else:
        # The first that fits: bool comes before int, which it subclasses.
        matches = [(type_name, python_type) for type_name, python_type, _ in _SCALAR_TYPES
                   if isinstance(value, python_type)]
        if not matches:
            hint = " (convert it with np.asarray)" if isinstance(value, (list, tuple)) else ""
            raise TypeError(f"{where} holds a {type(value).__name__}{hint}; a checkpoint stores NumPy arrays, "
                            "Tensors, int, float, bool, str and nested mappings of them")
        scalar_type, python_type = matches[0]
        if scalar_type == "int":
            try:
                array = np.array(int(value), dtype=np.int64)
            except OverflowError:
                raise ValueError(f"{where} holds the int {value}, outside int64") from None
        else:
            array = np.array(python_type(value))
            if scalar_type == "str" and array.item() != value:
                raise ValueError(f"{where} holds a str ending in NUL characters, which .npy strings drop")
    if array.dtype.hasobject:
        raise DTypeError(f"{where} holds an array of dtype {array.dtype} ({type(value).__name__}), which .npy can "
                         "only store by pickling; convert it to a numeric, bool or fixed-width string dtype")
    return array, scalar_type


def _writer_id():
    """This host and, where Linux tells it, this pid namespace, in characters safe in a file name (no dots).

    A pid means one process only within its pid namespace: containers that share a folder can share a hostname
    (the containers of one Kubernetes pod do) while each counts its own pids."""
    writer = re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname())[:64] or "_"
    try:
        writer += f"-pidns{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        pass
    return writer


def _temp_name(path, pid, token):
    """The name of a temporary file of the checkpoint `path`, written by process `pid` of this host."""
    return f".{os.path.basename(path)}.{_writer_id()}.{pid}.{token}.tmp"


def _remove_orphans(path, folder):
    """Remove the temporary files of `path` in `folder` whose writer, a process of this host, no longer exists."""
    if os.name != "posix":
        return  # os.kill(pid, 0) would terminate the process on Windows: there is no safe liveness check
    # _temp_name's pattern, for this path and this host: the pid is captured
    own = re.compile(re.escape(f".{os.path.basename(path)}.{_writer_id()}.") + r"([1-9][0-9]{0,9})\.[0-9a-f]{12}\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return  # no folder, or not readable: save or load will say so
    for name in names:
        match = own.fullmatch(name)
        if match is None or _process_exists(int(match.group(1))):
            continue
        orphan = os.path.join(folder, name)
        try:
            if stat.S_ISREG(os.lstat(orphan).st_mode):
                os.unlink(orphan)
                logger.info("removed %r, left by process %s, which was killed while saving", orphan, match.group(1))
        except OSError as exc:  # removed by another process meanwhile, or a read-only folder: not this call's job
            logger.debug("could not remove the orphaned temporary file %r (%s)", orphan, exc)


def _process_exists(pid):
    """Whether a process `pid` exists on this host (POSIX only); True when unsure."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists and may be signalled
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it exists, another user's
        return True
    return True


def _create_temp_file(path, folder):
    """(name, open binary file) of a new file next to `path`; like tempfile.mkstemp, but honouring the umask."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        temp_path = os.path.join(folder, _temp_name(path, os.getpid(), secrets.token_hex(6)))
        try:
            fd = os.open(temp_path, flags, 0o666)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "save: no folder to write the checkpoint in", folder) from None
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the replaced checkpoint's permissions, not 0o600 as mkstemp would give
            return temp_path, os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            os.unlink(temp_path)
            raise
    raise FileExistsError(errno.EEXIST, "save: could not create a unique temporary file in", folder)


def _write_npz(file, items):
    # What np.savez writes, done here because np.savez takes keys as keyword arguments: a key named "file" raises,
    # and one named "allow_pickle" is silently swallowed as the flag.
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in items:
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                npy_format.write_array(member, array, allow_pickle=False)


def _sync_folder(folder, path):
    """fsync the folder, so the rename is durable; a no-op where folders cannot be opened (Windows)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        logger.debug("save: cannot open %r to fsync it (%s)", folder, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _SYNC_UNSUPPORTED:
            exc.add_note(f"the checkpoint {path!r} was written, but its folder could not be synced: the rename "
                         "may not survive a power cut")
            raise
        logger.debug("save: the file system of %r does not fsync folders (%s)", folder, exc)
    finally:
        os.close(fd)


# ----- load -------------------------------------------------------------------------------------------------------
def _foreign_file_problem(head):
    """What the first bytes say the file is, if it is not a zip archive; None for a zip archive."""
    if not head:
        return "the file is empty"
    if head.startswith(_ZIP_SIGNATURES):
        return None
    if head.startswith(npy_format.MAGIC_PREFIX):
        return "it is a single .npy array (np.save), not an .npz archive"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:  # the PROTO opcode of pickle protocols 2 to 5
        return ("it is a Python pickle (pickle.dump, an old torch.save), which tinyattn never loads: unpickling runs "
                "whatever code the file names")
    return f"it is not an .npz archive (it starts with {head!r}, not a zip signature)"


def _read_members(archive, path):
    entries = {}
    for member in archive.zip.namelist():
        if not member.endswith(".npy"):
            kind = " (a pickle)" if member.endswith(".pkl") else ""
            raise CheckpointError(f"load: {path!r} is not a checkpoint: its member {member!r}{kind} is not a .npy "
                                  "array")
        key = member[:-len(".npy")]
        if key in entries:
            raise CheckpointError(f"load: {path!r} is corrupt: the entry {key!r} appears twice")
        try:
            value = archive[member]
        except ValueError as exc:
            if "allow_pickle" in str(exc):  # numpy's refusal of an object array, raised before any unpickling
                raise CheckpointError(f"load: {path!r} holds a pickled object array at key {key!r}, which tinyattn "
                                      "never loads: unpickling runs whatever code the file names") from None
            raise CheckpointError(f"load: {path!r} is truncated or corrupt at key {key!r} "
                                  f"({type(exc).__name__}: {exc})") from None
        except Exception as exc:  # noqa: BLE001 (as in load: any failure here means a damaged member)
            raise CheckpointError(f"load: {path!r} is truncated or corrupt at key {key!r} "
                                  f"({type(exc).__name__}: {exc})") from None
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"load: {path!r} is not a checkpoint: its member {member!r} is not a .npy array")
        entries[key] = value
    return entries


def _read_manifest(entries, path):
    """Drop the manifest and turn the entries it lists back into Python scalars; returns (entries, tree or None)."""
    if MANIFEST_KEY not in entries:
        return entries, None  # a plain np.savez file: arrays only
    manifest_array = entries.pop(MANIFEST_KEY)
    bad = f"load: {path!r} has a malformed {MANIFEST_KEY!r} manifest"
    if manifest_array.shape != () or manifest_array.dtype.kind != "U":
        raise CheckpointError(f"{bad}: expected a 0-d string array, got shape {manifest_array.shape}, "
                              f"dtype {manifest_array.dtype}")
    try:
        manifest = json.loads(manifest_array.item())
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply for the parser
        raise CheckpointError(f"{bad}: not JSON ({type(exc).__name__}: {exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("version"), int) \
            or not isinstance(manifest.get("scalars"), dict):
        raise CheckpointError(f"{bad}: expected an object with an int 'version' and a 'scalars' object")
    if manifest["version"] > FORMAT_VERSION:
        raise CheckpointError(f"load: {path!r} was written by a newer tinyattn (format version {manifest['version']}; "
                              f"this one reads up to {FORMAT_VERSION})")
    kinds = {name: (python_type, kind) for name, python_type, kind in _SCALAR_TYPES}
    for key, type_name in manifest["scalars"].items():
        if type_name not in kinds:
            raise CheckpointError(f"{bad}: unknown scalar type {type_name!r} for key {key!r}")
        python_type, kind = kinds[type_name]
        array = entries.get(key)
        if array is None or array.shape != () or array.dtype.kind != kind:
            found = "nothing" if array is None else f"shape {array.shape}, dtype {array.dtype}"
            raise CheckpointError(f"{bad}: key {key!r} should be a 0-d {type_name}, found {found}")
        entries[key] = python_type(array.item())
    tree = manifest.get("tree")
    if manifest["version"] >= 2 and not isinstance(tree, dict):
        raise CheckpointError(f"{bad}: format version {manifest['version']} needs a 'tree' object")
    return entries, tree


def _nest(tree, entries, path):
    """The nested dicts `tree` describes, each leaf (a member name) replaced by its entry, taken out of `entries`."""
    bad = f"load: {path!r} has a malformed {MANIFEST_KEY!r} manifest"

    def build(node):
        nested = {}
        for key, value in node.items():
            if isinstance(value, dict):
                nested[key] = build(value)
            elif isinstance(value, str) and value in entries:
                nested[key] = entries.pop(value)
            else:
                raise CheckpointError(f"{bad}: its tree names {value!r} at key {key!r}, which is not an entry of the "
                                      "file (or is named twice)")
        return nested

    try:
        nested = build(tree)
    except RecursionError:
        raise CheckpointError(f"{bad}: its tree is nested too deeply") from None
    if entries:
        raise CheckpointError(f"{bad}: its tree leaves out the entries {sorted(entries)}")
    return nested


# ----- restoring loaded values into a model or an optimiser -------------------------------------------------------
def restored_array(value, dtype, what):
    """`value` (an array, a Tensor or a number, as read from a checkpoint) as a new array of `dtype`.

    Raises DTypeError, naming `what`, for a value whose cast would garble it: not numbers (strings, objects, None, a
    ragged list), complex numbers for a real `dtype`, a finite number that overflows to inf in a float `dtype`, and
    a fraction, NaN, inf or out-of-range number for an integer or bool `dtype`. Rounding to a narrower float is
    fine, and NaN and inf stay NaN and inf in a float `dtype`. The shape is the caller's to check.
    """
    dtype = np.dtype(dtype)
    try:
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
    except (TypeError, ValueError) as exc:
        raise DTypeError(f"{what}: a {type(value).__name__} that is not an array of numbers ({exc})") from None
    if array.dtype.kind not in ("biufc" if dtype.kind == "c" else "biuf"):
        raise DTypeError(f"{what}: holds {array.dtype} data ({type(value).__name__}), which does not convert to "
                         f"{dtype}")
    with np.errstate(all="ignore"):  # the cast may overflow or be invalid: checked just below
        converted = array.astype(dtype)
        if dtype.kind in "fc":
            garbled = np.isfinite(array) & ~np.isfinite(converted)
        else:
            garbled = converted.astype(array.dtype) != array  # NaN != NaN: a NaN counts as garbled
    if np.any(garbled):
        example = array[garbled].ravel()[0].item()  # a 0-d array indexed by a 0-d mask gives a 1-d array
        raise DTypeError(f"{what}: the {array.dtype} value {example!r} does not fit in {dtype}")
    return converted
