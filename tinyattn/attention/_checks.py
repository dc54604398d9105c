"""The input checks of tinyattn.attention, in one place and in one message style:

    "<op>: <what is wrong>; got <name> <shape> <dtype>, <name> <shape> <dtype>, ..."

which names the operation and the shape and dtype of every input it was given. A public function or ``forward``
calls one check, in one line, before its formula. The check raises ShapeError or DTypeError (tinyattn.errors), or
ValueError for a bad value (a setting, a NaN in a float mask), at the first problem it finds; otherwise it returns
the inputs ready for the formula: arrays wrapped as Tensors without a copy (``as_tensor``) where the formula uses
operators, masks and token ids as NumPy arrays.

The decoders run these checks at every output step, so a check only compares shapes and dtypes (it reads values
only where they can be wrong: a float mask, token ids) and builds its message only when it fails: each part below
returns a *problem*, ``(exception class, what is wrong)``, or None (False in an ``a and b`` chain), and ``fail``
turns a problem into the exception. Settings (sizes, a window, counts) are numbers, not arrays: their checks, at the
end, raise at once (TypeError for a number of the wrong kind, ValueError for one out of range) and show the values
they were given.
"""
import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import _checks as layer_checks
from tinyattn.primitive import as_array
from tinyattn.scaled_dot_product import float_mask_problem
from tinyattn.tensor import as_tensor


def fail(op, problem, **inputs):
    """Raise problem = (exception class, what is wrong) for operation `op`, naming each input's shape and dtype
    (in keyword order; an input that is None is left out)."""
    error, what = problem
    described = ", ".join(f"{name} {as_array(value).shape} {as_array(value).dtype}"
                          for name, value in inputs.items() if value is not None)
    raise error(f"{op}: {what}; got {described}")


# ----- attention over keys -------------------------------------------------------------------------------------------
def query_keys(op, query, keys, query_size=None, key_size=None, same_size=False, dtype=None, max_keys=None):
    """Check what every score takes: float query (B, Dq) or (B, Tq, Dq) and keys (B, Tk, Dk) of one dtype and batch
    size, with Tk >= 1; and, where given, the sizes Dq and Dk the score was made for, Dq == Dk (`same_size`), the
    dtype of the score's parameters and the largest Tk (`max_keys`).

    Returns (query (B, Tq, Dq), keys (B, Tk, Dk), single) as Tensors; a 2-D query becomes a sequence of one query,
    (B, Dq) -> (B, 1, Dq), and `single` says so (the score then drops that axis again).
    """
    query, keys = as_tensor(query), as_tensor(keys)
    problem = _query_keys_problem(query.data, keys.data) or _score_problem(
        query.data, keys.data, query_size, key_size, same_size, dtype, max_keys)
    if problem:
        fail(op, problem, query=query, keys=keys)
    single = query.ndim == 2
    return (query.expand_dims(1) if single else query), keys, single  # (B, Dq) -> (B, 1, Dq)


def attend(op, query, keys, values, mask):
    """Check attention's inputs: query and keys as in ``query_keys``, values (B, Tk, Dv) of the keys' B, Tk and
    dtype, and the mask: boolean (True = attend) or float (added to the scores), either a key mask (B, Tk) or a 3-D
    array that broadcasts to the scores (B, Tq, Tk) (Tq = 1 for a 2-D query).

    Returns query (as given, 2-D or 3-D), keys and values as Tensors, and the mask as an array that broadcasts to
    the scores (B, Tq, Tk), or None: a key mask (B, Tk) becomes (B, 1, Tk), the same keys for every query.
    """
    query, keys, values = as_tensor(query), as_tensor(keys), as_tensor(values)
    mask = None if mask is None else as_array(mask)
    problem = _query_keys_problem(query.data, keys.data) or _values_problem(keys.data, values.data) or (
        mask is not None and _mask_problem(mask, query.shape, keys.shape))
    if problem:
        fail(op, problem, query=query, keys=keys, values=values, mask=mask)
    if mask is not None and mask.ndim == 2:
        mask = mask[:, None, :]  # (B, Tk) -> (B, 1, Tk)
    return query, keys, values, mask


def scores(op, scores, score, query, keys):
    """Check that a score function returned one score per (query, key) pair, (B, Tk) or (B, Tq, Tk); return the
    scores as a Tensor."""
    scores = as_tensor(scores)
    expected = query.shape[:-1] + keys.shape[1:2]
    if scores.shape != expected:
        fail(op, (ShapeError, f"the score {type(score).__name__} returned {scores.shape}; expected {expected}"),
             query=query, keys=keys, scores=scores)
    return scores


def _query_keys_problem(query, keys):
    if query.dtype.kind != "f" or keys.dtype.kind != "f":
        return DTypeError, "needs float query and keys"
    if query.dtype != keys.dtype:
        return DTypeError, "query and keys must share a dtype"
    if query.ndim not in (2, 3) or keys.ndim != 3:
        return ShapeError, "expected query (B, Dq) or (B, Tq, Dq) and keys (B, Tk, Dk)"
    if query.shape[0] != keys.shape[0]:
        return ShapeError, "query and keys need the same batch size B"
    if keys.shape[1] == 0:
        return ShapeError, "there must be at least one key (Tk >= 1)"
    return None


def _score_problem(query, keys, query_size, key_size, same_size, dtype, max_keys):
    """What a score module adds to the shared checks: its sizes, its parameters' dtype, its longest source."""
    if query_size is not None and query.shape[-1] != query_size:
        return ShapeError, f"expected a query of size {query_size} on its last axis"
    if key_size is not None and keys.shape[-1] != key_size:
        return ShapeError, f"expected keys of size {key_size} on their last axis"
    if same_size and query.shape[-1] != keys.shape[-1]:
        return ShapeError, "query and keys need the same feature size D (GeneralScore and AdditiveScore allow two)"
    if dtype is not None and query.dtype != dtype:
        return DTypeError, (f"the query is {query.dtype} but the parameters are {np.dtype(dtype)}; convert one "
                            f"(x.astype(...) or model.astype(...))")
    if max_keys is not None and keys.shape[1] > max_keys:
        return ShapeError, f"{keys.shape[1]} keys, but this score was made for at most max_length={max_keys}"
    return None


def _values_problem(keys, values):
    if values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
        return ShapeError, "values must be (B, Tk, Dv) with the keys' B and Tk"
    if values.dtype != keys.dtype:
        return DTypeError, "values and keys must share a dtype"
    return None


def _mask_problem(mask, query_shape, keys_shape):
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        return DTypeError, "mask must be boolean (True = attend) or float (added to the scores)"
    batch, length = keys_shape[0], keys_shape[1]
    if mask.ndim == 2:
        if mask.shape != (batch, length):
            return ShapeError, f"a 2-D mask is a key mask (B, Tk) = {(batch, length)}, True = attend"
    else:
        scores_shape = (batch, query_shape[1] if len(query_shape) == 3 else 1, length)  # (B, Tq, Tk)
        try:
            fits = mask.ndim == 3 and np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
        except ValueError:
            fits = False
        if not fits:
            return ShapeError, f"mask must be a key mask (B, Tk) or a 3-D array that broadcasts to {scores_shape}"
    return float_mask_problem(mask) if mask.dtype.kind == "f" else None


# ----- one sequence, attended by learned queries ---------------------------------------------------------------------
def sequence(op, h, mask, input_size, dtype):
    """Check float h (B, T, D) with B, T >= 1, D = input_size and the dtype of the parameters, and its mask (B, T)
    bool (True = a real position) or None. Returns h as a Tensor and the mask as an array (or None)."""
    h = as_tensor(h)
    mask = None if mask is None else as_array(mask)
    problem = _sequence_problem(h.data, input_size, dtype) or (
        mask is not None and _exact_mask_problem(mask, h.shape[:2], "mask", "BT", "a real position"))
    if problem:
        fail(op, problem, h=h, mask=mask)
    return h, mask


def hop_weights(op, weights):
    """Check float attention weights A (B, r, T) with no empty axis; return them as a Tensor."""
    weights = as_tensor(weights)
    if weights.dtype.kind != "f" or weights.ndim != 3 or 0 in weights.shape:
        error = DTypeError if weights.dtype.kind != "f" else ShapeError
        fail(op, (error, "expected float weights A (B, r, T) with no empty axis"), weights=weights)
    return weights


def _sequence_problem(h, input_size, dtype):
    if h.dtype.kind != "f":
        return DTypeError, "needs float h (B, T, D)"
    if h.ndim != 3 or h.shape[-1] != input_size:
        return ShapeError, f"expected h (B, T, D) with D = input_size = {input_size}"
    if 0 in h.shape:
        return ShapeError, "h has an empty axis; B and T must be at least 1"
    if h.dtype != dtype:
        return DTypeError, (f"h is {h.dtype} but the parameters are {np.dtype(dtype)}; convert one (h.astype(...) "
                            f"or module.astype(...))")
    return None


def key_mask(op, mask, keys=None, name="mask", meaning="a real key"):
    """Check a key mask (B, S) bool, True = `meaning`, of the keys' B and S when keys (B, S, Dk) are given; an
    integer mask, even of 0s and 1s, is refused (DTypeError). Returns the mask as an array."""
    mask = as_array(mask)
    if keys is not None:
        problem = _exact_mask_problem(mask, as_array(keys).shape[:2], name, "BS", meaning)
    elif mask.dtype != np.bool_ or mask.ndim != 2:
        error = DTypeError if mask.dtype != np.bool_ else ShapeError
        problem = error, f"{name} must be boolean (B, S), True = {meaning}"
    else:
        problem = None
    if problem:
        fail(op, problem, keys=keys, **{name: mask})
    return mask


# ----- two inputs that attend to each other --------------------------------------------------------------------------
def pair(op, x1, x2, mask1, mask2, names=("x1", "x2"), mask_names=None, size=None, dtype=None, same_size=True):
    """Check two float sequences x1 (B, T1, D1) and x2 (B, T2, D2) of one dtype and batch size B, with no empty axis,
    and their masks (B, T1) and (B, T2) bool (True = a real position) or None; where given, D1 == D2 (`same_size`),
    D1 == D2 == `size` and the dtype of the parameters (None: a layer without parameters takes any float dtype).
    `names` and `mask_names` are the caller's argument names (masks by default "<name>_mask"). Returns both inputs as
    Tensors and both masks as arrays (or None)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    mask1 = None if mask1 is None else as_array(mask1)
    mask2 = None if mask2 is None else as_array(mask2)
    first, second = names
    first_mask, second_mask = mask_names or (f"{first}_mask", f"{second}_mask")
    problem = (_pair_problem(x1.data, x2.data, names, size, dtype, same_size)
               or (mask1 is not None and _exact_mask_problem(mask1, x1.shape[:2], first_mask, "BT",
                                                              "a real position"))
               or (mask2 is not None and _exact_mask_problem(mask2, x2.shape[:2], second_mask, "BT",
                                                              "a real position")))
    if problem:
        fail(op, problem, **{first: x1, second: x2, first_mask: mask1, second_mask: mask2})
    return x1, x2, mask1, mask2


def _pair_problem(x1, x2, names, size, dtype, same_size):
    first, second = names
    if x1.dtype.kind != "f" or x2.dtype.kind != "f":
        return DTypeError, f"needs float {first} and {second}"
    if x1.dtype != x2.dtype:
        return DTypeError, f"{first} and {second} must share a dtype"
    if x1.ndim != 3 or x2.ndim != 3:
        return ShapeError, f"expected {first} (B, T1, D) and {second} (B, T2, D)"
    if x1.shape[0] != x2.shape[0]:
        return ShapeError, f"{first} and {second} need the same batch size B"
    if 0 in x1.shape or 0 in x2.shape:
        return ShapeError, f"{first} and {second} have an empty axis; B, T and D must be at least 1"
    if same_size and x1.shape[2] != x2.shape[2]:
        return ShapeError, (f"{first} and {second} need the same feature size D (their positions are compared by a "
                            f"dot product)")
    if size is not None and (x1.shape[2] != size or x2.shape[2] != size):
        return ShapeError, f"expected {first} and {second} of size {size} on their last axis"
    if dtype is not None and x1.dtype != dtype:
        return DTypeError, (f"the inputs are {x1.dtype} but the parameters are {np.dtype(dtype)}; convert one "
                            f"(x.astype(...) or module.astype(...))")
    return None


# ----- token ids and their masks --------------------------------------------------------------------------------------
def source(op, source_ids, source_mask, vocab_size):
    """Check source_ids (B, S) integers in [0, vocab_size) with B, S >= 1 and source_mask (B, S) bool with a real
    token (True) in every row; return the mask as an array."""
    ids, mask = as_array(source_ids), as_array(source_mask)
    problem = (_ids_problem(ids, "source_ids", "BS", vocab_size)
               or _exact_mask_problem(mask, ids.shape, "source_mask", "BS", "a real token")
               or _empty_rows_problem(mask.any(axis=1), "row", "token", "source_mask"))
    if problem:
        fail(op, problem, source_ids=ids, source_mask=mask)
    return mask


def documents(op, ids, mask, vocab_size, padding_idx):
    """Check ids (B, S, W) integers in [0, vocab_size) with no empty axis and the word mask (B, S, W) bool, True = a
    real word, or None for ``ids != padding_idx`` (every word when padding_idx is None); every document needs a real
    word. Returns the ids and the word mask as arrays."""
    ids = as_array(ids)
    given = None if mask is None else as_array(mask)
    problem = _ids_problem(ids, "ids", "BSW", vocab_size) or (
        given is not None and _exact_mask_problem(given, ids.shape, "mask", "BSW", "a real word"))
    if not problem:
        if given is None:  # the default: every id but padding_idx is a real word
            mask = np.ones(ids.shape, bool) if padding_idx is None else ids != padding_idx
        else:
            mask = given
        problem = _empty_rows_problem(mask.any(axis=(1, 2)), "document", "word", "mask")
    if problem:
        fail(op, problem, ids=ids, mask=given)
    return ids, mask


def token_ids(op, name, ids, batch, ndim, vocab_size=None, **others):
    """Check the tokens a decoder is fed: integers (B,) (ndim 1) or (B, T) with T >= 1 (ndim 2), B = `batch`, in
    [0, vocab_size) when vocab_size is given. Every problem is a ShapeError. `others` are named in the message.
    Returns the ids as an array."""
    ids = as_array(ids)
    problem = None
    if ids.dtype.kind not in "iu" or ids.ndim != ndim or ids.shape[0] != batch or 0 in ids.shape:
        layout = "(B,) with" if ndim == 1 else "(B, T) with T >= 1 and"
        problem = ShapeError, f"{name} must be integers {layout} B = {batch}"
    elif vocab_size is not None:
        problem = _range_problem(ids, name, vocab_size)
    if problem:
        fail(op, problem, **{name: ids}, **others)
    return ids


def encoder_outputs(op, encoder_states, encoder_final, source_mask, encoder_size, dtype):
    """Check what a decoder starts from: encoder_states (B, S, De) with S >= 1, encoder_final (B, De), both of the
    decoder's encoder_size and dtype, and source_mask (B, S) bool with a real token in every row. Returns the mask
    as an array."""
    states, final, mask = as_array(encoder_states), as_array(encoder_final), as_array(source_mask)
    problem = _encoder_problem(states, final, encoder_size, dtype)
    problem = problem or _exact_mask_problem(mask, states.shape[:2], "source_mask", "BS", "a real token")
    problem = problem or _empty_rows_problem(mask.any(axis=1), "source row", "token", "source_mask")
    if problem:
        fail(op, problem, encoder_states=states, encoder_final=final, source_mask=mask)
    return mask


def _encoder_problem(states, final, encoder_size, dtype):
    if states.ndim != 3 or final.ndim != 2 or states.shape[0] != final.shape[0] or states.shape[1] == 0:
        return ShapeError, "expected encoder_states (B, S, De) with S >= 1 and encoder_final (B, De)"
    if states.shape[2] != encoder_size or final.shape[1] != encoder_size:
        return ShapeError, f"this decoder was made for encoder_size {encoder_size}"
    if states.dtype != dtype or final.dtype != dtype:
        return DTypeError, f"the decoder's parameters are {np.dtype(dtype)}; convert one (model.astype(...))"
    return None


def _ids_problem(ids, name, axes, vocab_size):
    """Integer ids with one axis per letter of `axes` ("BS" for (B, S)), none of them empty, in [0, vocab_size)."""
    if ids.dtype.kind not in "iu":
        return DTypeError, f"{name} must be integers"
    if ids.ndim != len(axes) or 0 in ids.shape:
        return ShapeError, f"expected {name} {_layout(axes)} with no empty axis"
    return _range_problem(ids, name, vocab_size)


def _range_problem(ids, name, vocab_size):
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        return ShapeError, f"{name} must lie in [0, {vocab_size}), but they range from {ids.min()} to {ids.max()}"
    return None


def _exact_mask_problem(mask, shape, name, axes, meaning):
    """A boolean mask of exactly `shape` (its axes named by the letters of `axes`), True = `meaning`. An integer mask
    is refused even when it holds only 0s and 1s: one polarity, spelled by one dtype."""
    if mask.dtype != np.bool_:
        return DTypeError, f"{name} must be boolean {_layout(axes)}, True = {meaning}"
    if mask.shape != shape:
        return ShapeError, f"{name} must have shape {_layout(axes)} = {shape}, True = {meaning}"
    return None


def _layout(axes):
    """The axes of an input as the docstrings write them: "BSW" -> "(B, S, W)"."""
    return f"({', '.join(axes)})"


def _empty_rows_problem(real_rows, row, token, mask_name):
    """real_rows (B,) bool, False for a row without a real token: each row needs one."""
    if real_rows.all():
        return None
    empty = np.flatnonzero(~real_rows).tolist()
    return ShapeError, (f"every {row} needs at least one real {token} (True in {mask_name}), but {row}s {empty} "
                        f"have none; drop them from the batch")


# ----- settings ------------------------------------------------------------------------------------------------------
def score_sizes(op, score, query_size, key_size, max_length, names=("query_size", "key_size", "max_length")):
    """Check the sizes a named score needs: "dot" and "scaled_dot" compare queries with keys directly (query_size
    == key_size), "location" has one weight per position (max_length given). `names` are the caller's names for
    the three sizes."""
    given = f"score={score!r}, {names[0]}={query_size}, {names[1]}={key_size}, {names[2]}={max_length}"
    if score in ("dot", "scaled_dot") and query_size != key_size:
        raise ShapeError(f"{op}: a {score!r} score compares queries with keys directly, so {names[0]} ({query_size}) "
                         f"must equal {names[1]} ({key_size}); use 'general' or 'additive' otherwise; got {given}")
    if score == "location" and max_length is None:
        raise ValueError(f"{op}: a 'location' score has one weight per source position; pass {names[2]}; got {given}")


def sizes(op, minimum=1, optional=(), **settings):
    """Check integer settings given by name (sizes, counts: ``vocab_size=..., beam_size=...``) as the layers'
    constructors do (``tinyattn.nn._checks.size``): each a Python or NumPy integer, not a bool, at least `minimum`;
    a name listed in `optional` may also be None (a default). TypeError for a non-integer, ValueError for an integer
    below `minimum`."""
    for name, value in settings.items():
        layer_checks.size(op, name, value, minimum, optional=name in optional)


def half_width(op, window):
    """Check a window's half-width D: an integer >= 0 (``sizes``)."""
    sizes(op, minimum=0, window=window)


def window_centres(op, centres, window):
    """Check a window's half-width (``half_width``) and its centres (B,); return the centres as an array."""
    half_width(op, window)
    centres = as_array(centres)
    if centres.ndim != 1:
        fail(op, (ShapeError, "centres must be (B,)"), centres=centres)
    return centres


def gaussian_centres(op, centres, sigma):
    """Check sigma > 0 and float centres; return the centres as a Tensor."""
    if not sigma > 0:
        raise ValueError(f"{op}: sigma must be positive; got sigma={sigma!r}")
    centres = as_tensor(centres)
    if centres.dtype.kind != "f":
        fail(op, (DTypeError, "centres must be floats"), centres=centres)
    return centres


def length_penalty(op, alpha):
    """Check beam search's length_penalty alpha, which ranks a hypothesis by score / length ** alpha: a real number
    (not a bool), finite and >= 0. NaN would make every comparison false and inf every long hypothesis score -0,
    both silently; alpha < 0 multiplies the (negative) score by length ** |alpha|, favouring short outputs even more
    than alpha = 0 (the plain log-probability) does, which is the opposite of what a length penalty is for."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: length_penalty must be a real number; got length_penalty={alpha!r} "
                        f"({type(alpha).__name__})")
    if not (np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"{op}: length_penalty must be a finite number >= 0 (0: the plain log-probability, 1: its "
                         f"mean per token); got length_penalty={alpha!r}")


def encoder_decoder(op, encoder, decoder, special_ids):
    """Check that an encoder's outputs fit a decoder (size and dtype) and the special token ids {name: id}: distinct
    ids of the decoder's vocabulary, the pad id being the decoder embedding's padding_idx (or it having none)."""
    got = (f"got an encoder with output_size {encoder.output_size} and {encoder.dtype} parameters, a decoder with "
           f"encoder_size {decoder.encoder_size} and {decoder.dtype} parameters")
    if encoder.output_size != decoder.encoder_size:
        raise ShapeError(f"{op}: the encoder's output_size must equal the decoder's encoder_size; {got}")
    if encoder.dtype != decoder.dtype:
        raise DTypeError(f"{op}: the encoder and the decoder must share a dtype (convert one: model.astype(...)); "
                         f"{got}")
    ids = special_ids.values()
    if len(set(ids)) != len(ids) or not all(0 <= value < decoder.vocab_size for value in ids):
        raise ValueError(f"{op}: {', '.join(special_ids)} must be distinct ids in [0, {decoder.vocab_size}); got "
                         f"{special_ids}")
    pad_id = special_ids["pad_id"]
    if decoder.embedding.padding_idx not in (None, pad_id):
        raise ValueError(f"{op}: pad_id must be the decoder's padding_idx, whose embedding row stays frozen at zero "
                         f"(make the decoder with padding_idx={pad_id}); got pad_id={pad_id}, padding_idx="
                         f"{decoder.embedding.padding_idx}")
