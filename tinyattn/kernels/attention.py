"""Fused attention: softmax(scale * q k^T + mask) v and its gradients, block by block, never holding the T x T matrix.

Inputs are 3-D: q (N, Tq, D), k (N, Tk, D), v (N, Tk, Dv), one head per index of N; `bias` is None or an additive
float mask of shape (*batch, Tq, Tk) with prod(batch) = N, head n reading bias[unravel_index(n, batch)] (pass a
zero-stride view from np.broadcast_to: a key mask costs no T x T memory), with -inf where a key is dropped;
`causal` keeps key j for query i only where j <= i + (Tk - Tq).

Forward (the online softmax of Milakov & Gimelshein, 2018, as FlashAttention uses it, Dao et al., 2022): for a block
of queries, walk the key blocks; for each, S = (scale q) k^T, then keep per row the running maximum m and sum l of
exp(S - m) and the running output acc = sum exp(S - m) v, rescaling l and acc by exp(m_old - m_new) whenever the
maximum grows. At the end output = acc / l and the row's log-sum-exp is lse = m + log l. Memory: the output, lse
(N, Tq) and one block of scores.

Backward: P = exp(S - lse) is recomputed block by block from q, k and lse; with delta = rowsum(grad * output),
    dV += P^T grad,   dP = grad v^T,   dS = P * (dP - delta),   dQ += scale dS k,   dK += dS^T (scale q).

Products (2 in the forward, 5 in the backward, 14 T^2 D flops in all) go to BLAS through NumPy on whole blocks;
what lies between them (mask, maximum, exp, rescale, the dS formula) is one pass over the block while it is in
cache: the ``*_reference`` steps in NumPy, the Numba steps below them. Under causal masking, key blocks wholly
above the diagonal are skipped, so causal attention costs about half. Short sequences group several heads into one
block (G, bq, bk), so that Python's cost per call is paid per group. The Numba version deals the blocks out to
threads (tinyattn.kernels.parallel): a group's query blocks in the forward, its key blocks in the backward (each
worker adding to a dq of its own when one head's key blocks are shared out).

A query row with no key left (all masked, or before the first key under causal) gets l = 0: output 0, lse = -inf,
and zero gradients.
"""
import numpy as np

from tinyattn.kernels import parallel
from tinyattn.kernels.exp import exp_scratch, exp_shifted_row_inplace, kernel_input, numbers, stand_in
from tinyattn.kernels.switch import FASTMATH, Kernel, jit

BLOCK = 512  # queries and keys per block: at T = 16,384 9% faster than 256 and 4% than 1,024 (bench/README.md)


# ----- the blocked algorithm, shared by the reference and the Numba version -------------------------------------
def _key_end(causal, query_end, offset, keys):
    """One past the last key the queries before `query_end` may see."""
    return min(keys, query_end + offset) if causal else keys


def _diagonal(causal, query_start, key_start, key_end, offset):
    """For a block that the causal mask cuts: d such that local key b is kept for local query a iff b - a <= d;
    None when every key of the block is visible to every query of it."""
    diagonal = query_start + offset - key_start
    return diagonal if causal and key_end - 1 - key_start > diagonal else None


def _forward_rows(q, k, v, bias, causal, block, steps, out, lse, q0):
    """One block of queries q0 .. q0 + block of a group of G heads: q (G, Tq, D) already scaled, k (G, Tk, D),
    v (G, Tk, Dv), bias a function (q0, q1, k0, k1) -> the (G or 1, bq, bk) bias block, or None; fills those rows of
    out (G, Tq, Dv) and lse (G, Tq)."""
    heads, queries, keys = q.shape[0], q.shape[1], k.shape[1]
    offset = keys - queries
    q1 = min(q0 + block, queries)
    scores = np.empty((heads, q1 - q0, min(block, keys)), q.dtype)
    peak = np.full((heads, q1 - q0), -np.inf, q.dtype)  # running row maximum m
    total = np.zeros((heads, q1 - q0), q.dtype)  # running sum l of exp(S - m)
    acc = np.zeros((heads, q1 - q0, v.shape[2]), q.dtype)  # running sum of exp(S - m) v
    for k0 in range(0, _key_end(causal, q1, offset, keys), block):
        k1 = min(k0 + block, keys)
        buffer = scores if k1 - k0 == scores.shape[2] else np.empty(scores.shape[:2] + (k1 - k0,), q.dtype)
        block_scores = np.matmul(q[:, q0:q1], k[:, k0:k1].swapaxes(1, 2), out=buffer)  # contiguous, as the kernels
        steps.online_softmax(block_scores, None if bias is None else bias(q0, q1, k0, k1),
                             _diagonal(causal, q0, k0, k1, offset), peak, total, acc)
        acc += block_scores @ v[:, k0:k1]  # the scores now hold exp(S - m)
    steps.finish(acc, peak, total, out[:, q0:q1], lse[:, q0:q1])


def _backward_keys(q, k, v, bias, causal, block, steps, grad, lse, delta, dq, dk, dv, k0):
    """One block of keys k0 .. k0 + block of a group of heads (arrays as in _forward_rows, q already scaled): fills
    those rows of dk and dv, and adds their share dS k to dq (the caller scales it)."""
    heads, queries, keys = q.shape[0], q.shape[1], k.shape[1]
    offset = keys - queries
    k1 = min(k0 + block, keys)
    probabilities = np.empty((heads, min(block, queries), k1 - k0), q.dtype)
    d_scores = np.empty_like(probabilities)
    dk_block = np.zeros((heads, k1 - k0, k.shape[2]), q.dtype)
    dv_block = np.zeros((heads, k1 - k0, v.shape[2]), q.dtype)
    first = max(0, k0 - offset) // block * block if causal else 0  # queries before it see none of these keys
    for q0 in range(first, queries, block):
        q1 = min(q0 + block, queries)
        if q1 - q0 != probabilities.shape[1]:  # the last block of queries is shorter: contiguous buffers for it
            probabilities, d_scores = (np.empty((heads, q1 - q0, k1 - k0), q.dtype) for _ in range(2))
        p = np.matmul(q[:, q0:q1], k[:, k0:k1].swapaxes(1, 2), out=probabilities)
        steps.probabilities(p, None if bias is None else bias(q0, q1, k0, k1), _diagonal(causal, q0, k0, k1, offset),
                            lse[:, q0:q1])
        dv_block += p.swapaxes(1, 2) @ grad[:, q0:q1]
        ds = np.matmul(grad[:, q0:q1], v[:, k0:k1].swapaxes(1, 2), out=d_scores)  # dP
        steps.score_grad(ds, p, delta[:, q0:q1])  # dS = P * (dP - delta), in place
        dq[:, q0:q1] += ds @ k[:, k0:k1]
        dk_block += ds.swapaxes(1, 2) @ q[:, q0:q1]
    dk[:, k0:k1] = dk_block
    dv[:, k0:k1] = dv_block


# Threads pay only for long runs. After a multi-threaded matrix product OpenBLAS's own threads keep spinning for up
# to ~0.1 s, taking the second core from a worker: measured after a 2-thread product, 64 heads of T = 256 took 107
# ms threaded against 72 ms in one thread (2-thread BLAS), 8 heads of T = 1,024 148 against 91 ms, one head of
# T = 4,096 201 against 188 ms; one head of T = 16,384 2.40 s against 2.88 s.
PARALLEL_SCORES = 2**26  # scores per call (heads x Tq x Tk) from which the blocks are shared between threads

GROUP_SCORES = 512 * 512  # scores per block, all heads of a group together (1 MiB in float32): the most to group


def _groups(heads, queries, keys, block, workers):
    """(first, last + 1) head of each group: heads are processed G at a time, one block of scores (G, bq, bk) per
    product, so that short sequences pay Python's per-call costs once per group rather than once per head; but
    never fewer groups than workers while there are heads to share."""
    size = max(1, GROUP_SCORES // (min(block, queries) * min(block, keys)))
    size = max(1, min(size, -(-heads // workers)))
    return [(first, min(first + size, heads)) for first in range(0, heads, size)]


def _workers(q, k, steps):
    """Threads for this call: those the steps offer (1 for NumPy) when the call is long enough to pay for them."""
    return steps.workers(q.shape[0] * q.shape[1]) if q.shape[0] * q.shape[1] * k.shape[1] >= PARALLEL_SCORES else 1


def _group_bias(bias, first, last):
    """A function (q0, q1, k0, k1) -> the bias block of heads first .. last - 1, (G or 1, bq, bk)."""
    batch = bias.shape[:-2]
    if all(side == 1 for side in batch):  # one bias for every head: a view
        shared = bias.reshape(bias.shape[-2:])
        return lambda q0, q1, k0, k1: shared[None, q0:q1, k0:k1]
    heads = [bias[np.unravel_index(head, batch)] for head in range(first, last)]  # each (Tq, Tk), a view
    return lambda q0, q1, k0, k1: np.stack([head[q0:q1, k0:k1] for head in heads])


def _forward(q, k, v, scale, causal, bias, block, steps):
    scaled = q * q.dtype.type(scale)
    out = np.empty(q.shape[:2] + v.shape[2:], q.dtype)
    lse = np.empty(q.shape[:2], q.dtype)
    workers = _workers(q, k, steps)
    groups = _groups(q.shape[0], q.shape[1], k.shape[1], block, workers)

    def run(items, _):
        for (first, last), q0 in items:
            heads = slice(first, last)
            _forward_rows(scaled[heads], k[heads], v[heads], None if bias is None else _group_bias(bias, first, last),
                          causal, block, steps, out[heads], lse[heads], q0)

    steps.spread(run, [(group, q0) for group in groups for q0 in range(0, q.shape[1], block)], workers)
    return out, lse


def _backward(q, k, v, out, lse, grad, scale, causal, bias, block, steps):
    typed = q.dtype.type(scale)
    scaled = q * typed
    delta = np.einsum("ntd,ntd->nt", grad, out)  # rowsum(grad * output), (N, Tq)
    dk, dv = np.empty_like(k), np.empty_like(v)
    workers = _workers(q, k, steps)
    groups = _groups(q.shape[0], q.shape[1], k.shape[1], block, workers)
    key_starts = range(0, k.shape[1], block)
    # Enough groups for every worker: a group's key blocks stay in one worker, which adds to that group's dq alone.
    # Fewer (one long head): its key blocks are shared out, and each worker adds to a dq of its own.
    shared = len(groups) < workers
    partial_dq = [np.zeros_like(q) for _ in range(workers if shared else 1)]

    def run(items, worker):
        dq = partial_dq[worker if shared else 0]
        for (first, last), starts in items:
            heads = slice(first, last)
            for k0 in starts:
                _backward_keys(scaled[heads], k[heads], v[heads],
                               None if bias is None else _group_bias(bias, first, last), causal, block, steps,
                               grad[heads], lse[heads], delta[heads], dq[heads], dk[heads], dv[heads], k0)

    if shared:
        steps.spread(run, [(group, [k0]) for group in groups for k0 in key_starts], workers)
    else:
        steps.spread(run, [(group, key_starts) for group in groups], workers)
    dq = partial_dq[0]
    for other in partial_dq[1:]:
        dq += other
    dq *= typed
    return dq, dk, dv


# ----- NumPy steps ------------------------------------------------------------------------------------------------
def _masked(scores, bias, diagonal):
    """Add the bias block and put -inf above the causal diagonal, in place."""
    if bias is not None:
        scores += bias
    if diagonal is not None:
        rows, columns = scores.shape[-2:]
        scores[..., np.arange(columns)[None, :] - np.arange(rows)[:, None] > diagonal] = -np.inf


class _NumpySteps:
    """The steps in NumPy, one after the other in this thread."""

    @staticmethod
    def workers(count):
        return 1

    @staticmethod
    def spread(run, items, count=1):
        run(items, 0)

    @staticmethod
    def online_softmax(scores, bias, diagonal, peak, total, acc):
        """scores -> exp(scores - m_new) in place; m, l and acc rescaled to the new maximum."""
        _masked(scores, bias, diagonal)
        new_peak = np.maximum(peak, scores.max(axis=-1))
        shift = np.where(new_peak == -np.inf, 0, new_peak)  # a row with no key yet: exp(-inf - 0) = 0
        np.exp(scores - shift[..., None], out=scores)
        rescale = np.exp(peak - shift)
        total *= rescale
        total += scores.sum(axis=-1)
        acc *= rescale[..., None]
        peak[:] = new_peak

    @staticmethod
    def finish(acc, peak, total, out, lse):
        empty = total == 0  # no key kept: output 0, lse -inf
        np.divide(acc, np.where(empty, 1, total)[..., None], out=out)
        with np.errstate(divide="ignore"):
            lse[:] = np.where(empty, -np.inf, peak + np.log(total))

    @staticmethod
    def probabilities(scores, bias, diagonal, lse):
        """scores -> P = exp(scores - lse) in place; 0 in a row with no key (lse = -inf)."""
        _masked(scores, bias, diagonal)
        np.exp(scores - np.where(lse == -np.inf, np.inf, lse)[..., None], out=scores)

    @staticmethod
    def score_grad(d_probabilities, probabilities, delta):
        """dP -> dS = P * (dP - delta) in place."""
        d_probabilities -= delta[..., None]
        d_probabilities *= probabilities


def forward_reference(q, k, v, scale, causal=False, bias=None, block=BLOCK):
    """(output (N, Tq, Dv), lse (N, Tq)) of softmax(scale q k^T + bias) v, block by block, in NumPy."""
    return _forward(q, k, v, scale, causal, bias, block, _NumpySteps)


def backward_reference(q, k, v, out, lse, grad, scale, causal=False, bias=None, block=BLOCK):
    """(dq, dk, dv) from the forward's output and lse, recomputing each block of P, in NumPy."""
    return _backward(q, k, v, out, lse, grad, scale, causal, bias, block, _NumpySteps)


# ----- Numba steps ------------------------------------------------------------------------------------------------
@jit(fastmath=FASTMATH)
def _mask_row(row, bias, has_bias, a, diagonal, has_diagonal, numbers):
    """Add row a of the bias block; drop the keys past the causal diagonal. Separate loops, each vectorisable."""
    if has_bias:
        for b in range(row.shape[0]):
            row[b] += bias[a, b]
    if has_diagonal:
        for b in range(max(0, a + diagonal + 1), row.shape[0]):
            row[b] = numbers.minus_inf


@jit(fastmath=FASTMATH, nogil=True)
def _online_softmax_rows(scores, bias, has_bias, diagonal, has_diagonal, peak, total, acc, numbers, bits):
    for g in range(scores.shape[0]):
        head_bias = bias[g if bias.shape[0] > 1 else 0]
        for a in range(scores.shape[1]):
            row = scores[g, a]
            _mask_row(row, head_bias, has_bias, a, diagonal, has_diagonal, numbers)
            high = peak[g, a]
            for b in range(row.shape[0]):
                high = max(high, row[b])
            shift = high if high != numbers.minus_inf else numbers.zero  # no key yet: exp(-inf - 0) = 0
            block_total = exp_shifted_row_inplace(row, shift, numbers, bits)
            if peak[g, a] != high:  # the maximum grew: rescale what was summed so far (a row's first block: zeros)
                rescale = numbers.zero if peak[g, a] == numbers.minus_inf else np.exp(peak[g, a] - shift)
                total[g, a] *= rescale
                for c in range(acc.shape[2]):
                    acc[g, a, c] *= rescale
                peak[g, a] = high
            total[g, a] += block_total


@jit(fastmath=FASTMATH, nogil=True)
def _probabilities_rows(scores, bias, has_bias, diagonal, has_diagonal, lse, numbers, bits):
    for g in range(scores.shape[0]):
        head_bias = bias[g if bias.shape[0] > 1 else 0]
        for a in range(scores.shape[1]):
            row = scores[g, a]
            if lse[g, a] == numbers.minus_inf:  # no key at all: P = 0
                row[:] = numbers.zero
                continue
            _mask_row(row, head_bias, has_bias, a, diagonal, has_diagonal, numbers)
            exp_shifted_row_inplace(row, lse[g, a], numbers, bits)


@jit(fastmath=FASTMATH, nogil=True)
def _score_grad_rows(d_probabilities, probabilities, delta):
    for g in range(d_probabilities.shape[0]):
        for a in range(d_probabilities.shape[1]):
            for b in range(d_probabilities.shape[2]):
                d_probabilities[g, a, b] = probabilities[g, a, b] * (d_probabilities[g, a, b] - delta[g, a])


def _bias_arguments(bias, dtype):
    """The bias block as the kernels take it (3-D, a kernel input: a copy of a view, the size of one block), and
    whether there is one: without, a 1 x 1 x 1 stand-in, so that each kernel compiles once per dtype (Numba compiles
    again for each array layout)."""
    if bias is not None:
        return kernel_input(bias), True
    return stand_in((1, 1, 1), dtype, 0), False


class _NumbaSteps:
    """The steps as Numba kernels, which release the GIL: the blocks are shared out between threads (see spread)."""

    workers = staticmethod(parallel.workers)
    spread = staticmethod(parallel.spread)

    @staticmethod
    def online_softmax(scores, bias, diagonal, peak, total, acc):
        bias, has_bias = _bias_arguments(bias, scores.dtype)
        _online_softmax_rows(scores, bias, has_bias, 0 if diagonal is None else diagonal, diagonal is not None,
                             peak, total, acc, numbers(scores.dtype), exp_scratch(scores.shape[-1], scores.dtype))

    finish = _NumpySteps.finish

    @staticmethod
    def probabilities(scores, bias, diagonal, lse):
        bias, has_bias = _bias_arguments(bias, scores.dtype)
        _probabilities_rows(scores, bias, has_bias, 0 if diagonal is None else diagonal, diagonal is not None,
                            kernel_input(lse), numbers(scores.dtype), exp_scratch(scores.shape[-1], scores.dtype))

    @staticmethod
    def score_grad(d_probabilities, probabilities, delta):
        _score_grad_rows(d_probabilities, kernel_input(probabilities), kernel_input(delta))


def forward_numba(q, k, v, scale, causal=False, bias=None, block=BLOCK):
    return _forward(q, k, v, scale, causal, bias, block, _NumbaSteps)


def backward_numba(q, k, v, out, lse, grad, scale, causal=False, bias=None, block=BLOCK):
    return _backward(q, k, v, out, lse, grad, scale, causal, bias, block, _NumbaSteps)


attention_forward = Kernel(forward_reference, forward_numba)
attention_backward = Kernel(backward_reference, backward_numba)
