"""Hot loops, each as a short NumPy reference and a Numba kernel with the same signature, side by side.

The reference is the documentation; the kernel is the speed. Which one runs is decided by one switch:

- the environment variable ``TINYATTN_NUMBA``: ``0`` selects the NumPy references, anything else (or unset) the
  Numba kernels;
- at run time, ``tinyattn.kernels.use_numba(False)`` / ``use_numba(True)``; ``numba_enabled()`` tells which is on.

When Numba is not installed the references are used, and one warning says so. Numba is imported on the first
kernel call, never by ``import tinyattn``; each kernel is compiled on first use for the dtypes it meets
(float32 and float64) and cached on disk (``cache=True``), so a later process loads it in a fraction of a second.
Numba would compile again for every new layout of an argument (Fortran order, strides, read-only): every kernel's
inputs therefore reach it C-contiguous and read-only, its outputs C-contiguous and writable (``exp.kernel_input``,
``exp.kernel_output``), one compilation per dtype whatever arrays the caller has.

Families (one module each): ``softmax`` (softmax, log_softmax, logsumexp, with scale and masks fused in),
``cross_entropy``, ``scatter`` (scatter-add for index backward passes), ``layer_norm``, ``attention`` (fused
attention, block by block), ``glimpse`` (the glimpse sensor), ``lstm`` and ``gru`` (the pointwise part of an LSTM or
GRU step and its backward); ``exp`` (a vectorised exp) and ``parallel`` (blocks of work shared between threads)
serve them.
"""
from tinyattn.kernels.switch import Kernel, jit, numba_enabled, use_numba

__all__ = ["Kernel", "jit", "numba_enabled", "use_numba"]
