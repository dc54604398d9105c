"""Fused attention as one operation: softmax(scale * query @ key^T + bias) @ value, computed block by block so that the
(Tq, Tk) matrix of weights is never stored, in the forward or the backward (see tinyattn.kernels.attention).

``F.scaled_dot_product_attention`` calls it when it can (no weights asked for, no dropout, float32 or float64), after
its own checks; calling it directly skips those checks.
"""
import numpy as np

from tinyattn.kernels import attention as kernels
from tinyattn.primitive import primitive


@primitive(n_inputs=3)
def fused_attention(query, key, value, bias=None, causal=False, scale=1.0, block=None):
    """softmax(scale * query @ key^T + bias) @ value, with key j hidden from query i where j > i + (Tk - Tq) when
    `causal`. Shapes: query (..., Tq, D), key (..., Tk, D), value (..., Tk, Dv), their leading axes broadcasting;
    `bias` None or a float array broadcasting to (..., Tq, Tk), added (-inf drops a key). -> (..., Tq, Dv).

    `block`: queries and keys per block (default ``tinyattn.kernels.attention.BLOCK``).
    Memory beyond the inputs and output: one row statistic per query (its log-sum-exp) and a block of scores. A
    query with no key left gets a zero output and zero gradients. The three gradients come from one backward pass,
    run when the first of them is asked for.
    """
    queries, keys, size, value_size = query.shape[-2], key.shape[-2], query.shape[-1], value.shape[-1]
    block = kernels.BLOCK if block is None else block
    batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    if bias is not None:
        batch = np.broadcast_shapes(batch, bias.shape[:-2])
        bias = np.broadcast_to(bias.astype(query.dtype, copy=False), batch + (queries, keys))  # a view: no copy

    def flat(array, rows, columns):  # (..., rows, columns) -> (N, rows, columns), copying only when broadcast
        return np.ascontiguousarray(np.broadcast_to(array, batch + (rows, columns))).reshape(-1, rows, columns)

    q, k, v = flat(query, queries, size), flat(key, keys, size), flat(value, keys, value_size)
    out, lse = kernels.attention_forward(q, k, v, scale, causal, bias, block)
    gradients = {}

    def backward(grad, which):
        # One backward pass gives the three gradients; each is handed out once (the engine may keep it as a .grad).
        if gradients.get("grad") is not grad or gradients["values"][which] is None:
            flat_grad = np.ascontiguousarray(grad).reshape(out.shape)
            gradients.update(grad=grad, values=list(kernels.attention_backward(q, k, v, out, lse, flat_grad, scale,
                                                                               causal, bias, block)))
        value, gradients["values"][which] = gradients["values"][which], None
        return value.reshape(batch + value.shape[1:])  # (N, T, D) -> (..., T, D); the engine sums a broadcast back

    return out.reshape(batch + (queries, value_size)), (lambda grad: backward(grad, 0), lambda grad: backward(grad, 1),
                                                        lambda grad: backward(grad, 2))
