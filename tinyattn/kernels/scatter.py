"""Scatter-add: the backward pass of every lookup (embedding, take, gather, indexing with integer arrays).

A lookup copies rows of a table out; its backward adds each gradient row back into the row it came from, and a
row looked up twice receives the sum of both gradients. ``np.add.at`` does exactly that, but one element at a time
through a generic ufunc loop; the kernel adds whole rows in a compiled loop.
"""
import numpy as np

from tinyattn.kernels.switch import FASTMATH, Kernel, jit


def scatter_add_rows_reference(target, rows, values):
    """target[rows[i], :] += values[i, :] for every i (repeated rows accumulate); returns target.

    Shapes: target (R, D), rows (N,) integers in [0, R), values (N, D). `target` is modified in place.
    """
    np.add.at(target, rows, values)
    return target


@jit(fastmath=FASTMATH)
def scatter_add_loop(target, rows, values):
    for i in range(rows.shape[0]):
        row = rows[i]
        for j in range(values.shape[1]):
            target[row, j] += values[i, j]


def scatter_add_rows_numba(target, rows, values):
    rows = np.asarray(rows)
    if rows.size and (rows.min() < 0 or rows.max() >= target.shape[0]):
        raise IndexError(f"scatter-add: a row index is outside [0, {target.shape[0]})")
    values = np.ascontiguousarray(values, dtype=target.dtype).reshape(rows.size, target.shape[1])
    scatter_add_loop(target, np.ascontiguousarray(rows, dtype=np.int64).reshape(-1), values)
    return target


scatter_add_rows = Kernel(scatter_add_rows_reference, scatter_add_rows_numba)
