"""exp of non-positive numbers, in a form Numba can vectorise; the kernels' dtypes, the typed constants they use and
the one form of the arrays they take.

Inside a Numba loop ``np.exp`` is a scalar call into libm, which does not vectorise (the PyPI llvmlite has no
vector math library), and a softmax written that way is slower than NumPy's. The kernels therefore use this exp,
written out so that each step is plain arithmetic that LLVM turns into SIMD instructions:

    exp(x) = 2**n * exp(r),   n = round(x / ln 2),   r = x - n ln 2,   |r| <= ln(2) / 2

``exp(r)`` is its Taylor polynomial (degree 7 in float32, 13 in float64: truncation errors near 3e-9 and 4e-18,
below half an ulp), evaluated by Horner's rule; ``n ln 2`` is subtracted in two parts (Cody & Waite, 1980) so that
``r`` keeps its precision; and ``2**n`` is built from its bits: the exponent field ``n + bias`` shifted into place.

Only x <= 0 is needed (softmax and cross-entropy exponentiate ``score - max``). The result is exactly 0 for
``-inf`` and for x below the log of the smallest normal number (where np.exp gives a subnormal), never inf.

A Python float inside a kernel is a float64 and silently turns float32 arithmetic into float64 (three to four
times slower here): kernels take every constant, typed, from ``numbers(dtype)``.

Numba compiles a kernel again for every new layout of an argument; ``kernel_input`` and ``kernel_output`` give every
kernel its arrays in one form (inputs C-contiguous and read-only, outputs C-contiguous and writable).
"""
import math
from typing import NamedTuple

import numpy as np

from tinyattn.kernels.switch import FASTMATH, Kernel, jit

#: The float dtypes the kernels are written and compiled for; an op checks its input against these before it calls a
#: kernel, so that an int or float16 array gets an error naming the op rather than a Numba typing error.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Numbers(NamedTuple):
    """Constants in one float dtype, for kernels; see the module docstring for the exp ones."""

    zero: float
    one: float
    minus_inf: float
    exp_low: float  # below this, exp is under the smallest normal number: the result is 0
    inv_ln2: float
    ln2_high: float
    ln2_low: float
    half: float
    exponent_bias: float
    exponent_unit: float  # 2 ** (mantissa bits): multiplying by it shifts an integer into the exponent field
    taylor: tuple  # coefficients of exp(r), highest degree first


def _numbers(dtype):
    if dtype == np.float32:
        # 12 significant bits: n * ln2_high is exact in float32 for |n| < 2**12.
        ln2_high, ln2_low = 0.693145751953125, math.log(2.0) - 0.693145751953125
        degree, bias, mantissa_bits = 7, 127, 23
    else:
        # 32 significant bits, so n * ln2_high is exact for |n| < 2**21; the low part holds the bits of ln 2 beyond
        # double precision (the values of fdlibm's e_exp.c).
        ln2_high, ln2_low = 6.93147180369123816490e-01, 1.90821492927058770002e-10
        degree, bias, mantissa_bits = 13, 1023, 52
    lowest = math.log(np.finfo(dtype).tiny)
    typed = np.dtype(dtype).type
    return Numbers(
        *(typed(value) for value in (0.0, 1.0, -np.inf, lowest, 1 / math.log(2.0), ln2_high, ln2_low, 0.5, bias,
                                     2.0**mantissa_bits)),
        taylor=tuple(typed(1.0 / math.factorial(k)) for k in range(degree, -1, -1)),
    )


_NUMBERS = {dtype: _numbers(dtype) for dtype in KERNEL_DTYPES}
_BITS = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def numbers(dtype):
    """The typed constants for a kernel working in `dtype` (float32 or float64)."""
    return _NUMBERS[np.dtype(dtype)]


def exp_scratch(size, dtype):
    """The integer scratch row `exp_row_inplace` builds 2**n in: `size` integers as wide as `dtype`."""
    return np.empty(size, _BITS[np.dtype(dtype)])


def kernel_input(array, dtype=None):
    """`array` (in `dtype`, if given) as a kernel reads it: C-contiguous (a copy, if it was not) and read-only (a
    view). Numba compiles a kernel once for each combination of its arguments' types, and a Fortran-ordered, strided
    or writable-versus-read-only array is a type of its own (0.5-4 s of compilation each): every kernel's inputs
    reach it in this one form, and its outputs as C-contiguous writable arrays (``kernel_output``)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    if array.flags.writeable:
        array = array.view()
        array.setflags(write=False)
    return array


_stand_ins = {}  # (shape, dtype, value) -> a read-only array of that value, shared by every call that needs it


def stand_in(shape, dtype, value):
    """A read-only kernel input of `shape` holding `value` everywhere, made once and reused: what a kernel takes for
    an argument the caller left out (no bias: zeros; no padding: all True), in the same form as a real one."""
    key = (shape, np.dtype(dtype), value)
    if key not in _stand_ins:
        _stand_ins[key] = kernel_input(np.full(shape, value, dtype))
    return _stand_ins[key]


def kernel_output(array):
    """`array` itself when a kernel can write it as it is (C-contiguous and writable, as the arrays the ops allocate
    are), else a C-contiguous copy to write instead, which ``copy_back`` then copies into `array`."""
    flags = array.flags
    return array if flags.c_contiguous and flags.writeable else np.array(array, order="C")


def copy_back(outputs, written):
    """Each array of `outputs` given the values of its stand-in in `written` (from kernel_output), where that is a
    copy rather than the array itself."""
    for output, done in zip(outputs, written, strict=True):
        if done is not output:
            output[...] = done


@jit(fastmath=FASTMATH)
def exp_row_inplace(row, numbers, bits):
    """row[j] = exp(row[j]) for a 1-D row of values <= 0; returns the sum of the exps, added up in the last pass
    (softmax, log_softmax and cross-entropy need it). `bits` comes from exp_scratch(len(row), row.dtype)."""
    return exp_shifted_row_inplace(row, numbers.zero, numbers, bits)


@jit(fastmath=FASTMATH)
def exp_shifted_row_inplace(row, shift, numbers, bits):
    """row[j] = exp(row[j] - shift), for row[j] - shift <= 0 (up to rounding: a few ulps above 0 are fine); returns
    the sum. The subtraction happens inside the loop, so a caller saves a pass over the row."""
    powers = bits.view(row.dtype)
    for j in range(row.shape[0]):
        x = row[j] - shift
        above = x > numbers.exp_low
        x = max(x, numbers.exp_low)
        n = np.floor(x * numbers.inv_ln2 + numbers.half)
        r = (x - n * numbers.ln2_high) - n * numbers.ln2_low
        poly = numbers.taylor[0]
        for k in range(1, len(numbers.taylor)):
            poly = poly * r + numbers.taylor[k]
        row[j] = poly
        # The exponent field of 2**n, written as an integer; 0 (the float 0.0) where x was below exp_low.
        bits[j] = (n + numbers.exponent_bias) * numbers.exponent_unit if above else numbers.zero
    total = numbers.zero
    for j in range(row.shape[0]):
        row[j] = row[j] * powers[j]
        total += row[j]
    return total


def exp_nonpositive_reference(values):
    """exp(values) for values <= 0 (NumPy)."""
    return np.exp(values)


def exp_nonpositive_numba(values):
    """exp(values) for values <= 0 with the vectorised loop above; exactly 0 below the smallest normal."""
    out = np.array(values, order="C", copy=True).reshape(-1)
    exp_row_inplace(out, numbers(out.dtype), exp_scratch(out.size, out.dtype))
    return out.reshape(np.shape(values))


exp_nonpositive = Kernel(exp_nonpositive_reference, exp_nonpositive_numba)


def stable_sigmoid(x):
    """1 / (1 + e ** -x) of a plain array, finite at every x and silent: the one sigmoid of tinyattn (the `sigmoid`
    primitive, binary cross-entropy's gradient, the NumPy references of the GRU and LSTM step kernels).

    Below x of about -88 (float32) or -709 (float64), e ** -x overflows to inf, and 1 / (1 + inf) = 0 is the right
    limit (the exact value is below the smallest normal number there); that overflow, like the underflow of e ** -x
    to 0 for large x, is expected and silenced, whatever ``np.seterr`` says. For x < 0 this form is slightly more
    accurate than e ** x / (1 + e ** x), and it takes four passes over the array where that one needs seven: the
    recurrent ops call it at every step.
    """
    with np.errstate(over="ignore", under="ignore"):
        return 1 / (1 + np.exp(-x))
