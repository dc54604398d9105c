"""Scatter-add: the backward pass of every lookup (embedding, take, gather, indexing with integer arrays).

A lookup copies rows of a table out; its backward adds each gradient row back into the row it came from, and a
row looked up twice receives the sum of both gradients. ``np.add.at`` does exactly that, but one element at a time
through a generic ufunc loop; the kernels add whole rows in a compiled loop.

Two forms: ``scatter_add_rows`` adds into a table the caller gives; ``scatter_into_zeros`` makes a new table (a
lookup's gradient), writing each of its rows once instead of zero-filling it first and adding after.
"""
import numpy as np

from tinyattn.kernels.exp import copy_back, kernel_input, kernel_output
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


def _checked_rows(rows, table_rows):
    rows = np.asarray(rows)
    if rows.size and (rows.min() < 0 or rows.max() >= table_rows):
        raise IndexError(f"scatter-add: a row index is outside [0, {table_rows})")
    return kernel_input(rows, np.int64).reshape(-1)


def scatter_add_rows_numba(target, rows, values):
    rows = _checked_rows(rows, target.shape[0])
    values = kernel_input(values, target.dtype).reshape(rows.size, target.shape[1])
    written = kernel_output(target)
    scatter_add_loop(written, rows, values)
    copy_back([target], [written])
    return target


scatter_add_rows = Kernel(scatter_add_rows_reference, scatter_add_rows_numba)


def scatter_into_zeros_reference(shape, rows, values):
    """A new array of `shape` (R, ...) and values' dtype: zeros, with values[i] added into row rows[i] for every i.

    Shapes: rows (N,) integers in [0, R), values (N, W) with W the product of shape[1:]. The result is a new array
    that owns its memory (not a view), so that the engine can make it a leaf's ``.grad`` as it is.
    """
    table = np.zeros(shape, dtype=values.dtype)
    np.add.at(table.reshape(shape[0], int(np.prod(shape[1:]))), rows, values)
    return table


@jit(fastmath=FASTMATH)
def scatter_into_empty_loop(table, rows, values, seen):
    # Each row of the uninitialised table is written once: the first value that lands in it is stored, later ones
    # are added; the rows no value reaches are zeroed at the end. Zero-filling the whole table first, then adding,
    # costs an extra pass over it (~20% of the backward of an embedding lookup, V = 50,000, D = 64).
    for i in range(rows.shape[0]):
        row = rows[i]
        if seen[row]:
            for j in range(values.shape[1]):
                table[row, j] += values[i, j]
        else:
            seen[row] = True
            for j in range(values.shape[1]):
                table[row, j] = values[i, j]
    for row in range(table.shape[0]):
        if not seen[row]:
            for j in range(table.shape[1]):
                table[row, j] = 0


def scatter_into_zeros_numba(shape, rows, values):
    rows = _checked_rows(rows, shape[0])
    width = int(np.prod(shape[1:]))
    values = kernel_input(values).reshape(rows.size, width)
    table = np.empty(shape, dtype=values.dtype)
    # The loop fills the (R, W) view of the new table (a view: the table is contiguous).
    scatter_into_empty_loop(table.reshape(shape[0], width), rows, values, np.zeros(shape[0], np.bool_))
    return table


scatter_into_zeros = Kernel(scatter_into_zeros_reference, scatter_into_zeros_numba)
