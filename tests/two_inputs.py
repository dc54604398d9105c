"""What the tests of attention between two inputs share (test_two_way.py, test_coattention.py,
test_decomposable.py): the masked softmax and the padding rules written out in NumPy for the references, the
strategy for a pair of inputs with masks on both sides, and the gradient check of both inputs and some parameters."""
import numpy as np
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta


def masked_softmax(logits, keep):
    """softmax of a vector over the positions where keep is True; zeros when nothing is kept."""
    weights = np.zeros(len(logits))
    if keep.any():
        exps = np.exp(logits[keep] - logits[keep].max())
        weights[keep] = exps / exps.sum()
    return weights


def real_positions(x, mask):
    """The mask as an array (all True for None)."""
    return np.ones(x.shape[:2], bool) if mask is None else mask


def zero_padding(x, mask):
    """x with its padded positions set to 0 (as the docstrings say: replaced by zeros before use)."""
    return np.where(real_positions(x, mask)[..., None], x, 0.0)


@st.composite
def side_masks(draw, shape, allow_none=True):
    """A mask (B, T) or None; "with empty row" makes one batch row fully padded."""
    kinds = ["none", "random", "with empty row"] if allow_none else ["random", "with empty row"]
    kind = draw(st.sampled_from(kinds), label="mask kind")
    if kind == "none":
        return None
    mask = draw(S.masks(shape), label="mask")
    if kind == "with empty row":
        mask[draw(st.integers(0, shape[0] - 1), label="empty row")] = False
    return mask


@st.composite
def pairs(draw, max_batch=3, max_steps=4, max_size=4, low=-2.0, high=2.0, allow_none=True, min_steps=1):
    """(x1 (B, T1, D), x2 (B, T2, D), mask1 (B, T1) or None, mask2 (B, T2) or None), float64, masks on both sides
    sometimes with a fully padded row (on either side, or both)."""
    batch = draw(st.integers(1, max_batch), label="B")
    length1, length2 = draw(st.integers(min_steps, max_steps), label="T1"), draw(st.integers(1, max_steps), label="T2")
    size = draw(st.integers(1, max_size), label="D")
    x1 = draw(S.arrays((batch, length1, size), low, high), label="x1")
    x2 = draw(S.arrays((batch, length2, size), low, high), label="x2")
    mask1 = draw(side_masks((batch, length1), allow_none), label="mask1")
    mask2 = draw(side_masks((batch, length2), allow_none), label="mask2")
    return x1, x2, mask1, mask2


def check_gradients(x1, x2, outputs_of, parameters, data):
    """gradcheck of the projected outputs of `outputs_of(x1, x2)` with respect to both inputs and `parameters`."""
    x1, x2 = ta.tensor(x1, requires_grad=True), ta.tensor(x2, requires_grad=True)
    upstreams = [data.draw(S.upstream_gradients(output.shape), label="upstream") for output in outputs_of(x1, x2)]
    ta.gradcheck(lambda *_: S.projected(outputs_of(x1, x2), upstreams), x1, x2, *parameters)
