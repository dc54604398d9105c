"""CoAttention (Xiong et al., 2016) and BiDAFAttention (Seo et al., 2017): forward, gradients, padding, errors.

The forward passes are compared with the papers' equations written out in NumPy below: co-attention in the paper's
own column convention (positions as columns, L = D^T Q, softmaxes column by column, sentinels appended as columns),
BiDAF's trilinear similarity built with the explicit concatenation [c_t; q_j; c_t * q_j] for every pair (t, j).
Every gradient (both inputs and every parameter, counted) is checked against central differences in float64 on tiny
shapes drawn by Hypothesis, with masks on both sides that include fully padded rows; outputs are projected on random
upstream gradients, never summed. BiDAF's max over the query words is a kink: its inputs are built so that the
similarities of one context position are far apart (see `separated_bidaf_cases`).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from two_inputs import check_gradients, masked_softmax, pairs, real_positions, side_masks, zero_padding

import strategies as S
import tinyattn as ta
from tinyattn import DTypeError, ShapeError
from tinyattn.attention import BiDAFAttention, BiDAFOutput, CoAttention, CoAttentionOutput, mutual_attention

GRADIENT_EXAMPLES = 50
PROPERTY_EXAMPLES = 25
CONFIGS = [(True, True), (True, False), (False, True), (False, False)]  # (sentinel, project_question)
CONFIG_IDS = ["sentinel-projection", "sentinel", "projection", "plain"]
PARAMETER_COUNTS = {(True, True): 4, (True, False): 2, (False, True): 2, (False, False): 0}


# ----- NumPy references ---------------------------------------------------------------------------------------------
def column_softmax(scores, real_rows, real_columns):
    """The paper's softmax(L): each column of `scores` normalised over its real rows; a padded column is zero."""
    weights = np.zeros(scores.shape)
    for j in range(scores.shape[1]):
        if real_columns[j]:
            weights[:, j] = masked_softmax(scores[:, j], real_rows)
    return weights


def coattention_reference(module, document, question, document_mask, question_mask):
    """Xiong et al. (2016), section 2.1, one example at a time with positions as columns:

        D (l, m'), Q (l, n'),  L = D^T Q (m', n'),  A^Q = softmax(L) (m', n'),  A^D = softmax(L^T) (n', m')
        C^Q = D A^Q (l, n'),  C^D = [Q; C^Q] A^D (2l, m')

    with the sentinels d_0 and q_0 appended as the last columns when the module has them, and then
    Q = tanh(W^(Q) [Q' q_0] + b^(Q)) when it projects the question: the paper projects the sentinel with the
    question. Returns the module's outputs, back in rows: C^D^T, C^Q^T and the weights without the sentinels' rows,
    and L with them.
    """
    outputs = {name: [] for name in CoAttentionOutput._fields}
    document_real, question_real = real_positions(document, document_mask), real_positions(question, question_mask)
    m, n = document.shape[1], question.shape[1]
    for b in range(document.shape[0]):
        doc = zero_padding(document, document_mask)[b].T  # (l, m)
        que = zero_padding(question, question_mask)[b].T  # (l, n)
        doc_real, que_real = document_real[b], question_real[b]
        if module.sentinel:
            doc = np.column_stack([doc, module.document_sentinel.data])  # (l, m + 1)
            que = np.column_stack([que, module.question_sentinel.data])  # (l, n + 1)
            doc_real, que_real = np.append(doc_real, True), np.append(que_real, True)
        if module.project_question:
            weight = module.projection.weight.data.T  # W^(Q): the layer computes q W + b, the paper W^(Q) q + b
            que = np.tanh(weight @ que + module.projection.bias.data[:, None])
        que = np.where(que_real[None, :], que, 0.0)
        affinity = doc.T @ que  # L (m', n')
        question_weights = column_softmax(affinity, doc_real, que_real)  # A^Q (m', n')
        document_weights = column_softmax(affinity.T, que_real, doc_real)  # A^D (n', m')
        question_context = doc @ question_weights  # C^Q (l, n')
        document_context = np.vstack([que, question_context]) @ document_weights  # C^D (2l, m')
        outputs["document_context"].append(document_context.T[:m])
        outputs["question_context"].append(question_context.T[:n])
        outputs["document_weights"].append(document_weights.T[:m])
        outputs["question_weights"].append(question_weights.T[:n])
        outputs["affinity"].append(affinity)
    return [np.stack(outputs[name]) for name in CoAttentionOutput._fields]


def bidaf_reference(module, context, query, context_mask, query_mask):
    """Seo et al. (2017), section 2.4, with the explicit concatenation for every pair:

        S_tj = w^T [c_t; q_j; c_t * q_j],  a_t = softmax_j(S_t:),  c~_t = sum_j a_tj q_j
        b = softmax_t(max_j S_tj),  h~ = sum_t b_t c_t,  G_t = [c_t; c~_t; c_t * c~_t; c_t * h~]

    over real positions only: the max and the softmaxes skip padded words; a padded context position gets zero rows;
    with no real query word, max_j is taken as 0 (every real context position ties, as the docstring says).
    """
    context_real, query_real = real_positions(context, context_mask), real_positions(query, query_mask)
    context, query = zero_padding(context, context_mask), zero_padding(query, query_mask)
    w = module.weight.data
    batch, length, size = context.shape
    words = query.shape[1]
    similarity = np.zeros((batch, length, words))
    for b in range(batch):
        for t in range(length):
            for j in range(words):
                similarity[b, t, j] = w @ np.concatenate([context[b, t], query[b, j], context[b, t] * query[b, j]])
    context_to_query = np.zeros((batch, length, words))
    query_to_context = np.zeros((batch, length))
    output = np.zeros((batch, length, 4 * size))
    for b in range(batch):
        best = np.zeros(length)
        for t in range(length):
            if context_real[b, t]:
                context_to_query[b, t] = masked_softmax(similarity[b, t], query_real[b])
            if query_real[b].any():
                best[t] = similarity[b, t][query_real[b]].max()
        query_to_context[b] = masked_softmax(best, context_real[b])
        attended_context = query_to_context[b] @ context[b]  # h~ (D,)
        for t in range(length):
            if context_real[b, t]:
                attended_query = context_to_query[b, t] @ query[b]  # c~_t (D,)
                output[b, t] = np.concatenate([context[b, t], attended_query, context[b, t] * attended_query,
                                               context[b, t] * attended_context])
    return output, context_to_query, query_to_context, similarity


# ----- strategies ---------------------------------------------------------------------------------------------------
@st.composite
def separated_bidaf_cases(draw, max_batch=2, max_steps=3, max_size=3):
    """(weight (3D,), context, query, context_mask, query_mask) such that, for every context position t, the query
    words' similarities S_tj are at least 0.5 apart: BiDAF's max over j is never near a tie, by construction.

    S_tj = w_c . c_t + k_t . q_j with k_t = w_q + c_t * w_cq, so S_tj - S_tj' = k_t . (q_j - q_j'). Here |c| <= 1,
    w_q[0] has magnitude in [1, 2] while every other entry of w_q and w_cq lies in [-0.1, 0.1]: |k_t[0]| >= 0.9 and
    |k_t[d]| <= 0.2 for d >= 1. The query's first feature takes distinct values (S.distinct_array: for J <= 3 words,
    at least 1.5 apart) and its other features lie in [-0.25, 0.25], so
    |S_tj - S_tj'| >= 0.9 * 1.5 - 2 * 0.2 * 0.5 = 1.15. The gradcheck's steps of 1e-6 never cross a tie.
    """
    batch = draw(st.integers(1, max_batch), label="B")
    length, words, size = (draw(st.integers(1, max_steps), label="T"), draw(st.integers(1, max_steps), label="J"),
                           draw(st.integers(1, max_size), label="D"))
    context = draw(S.arrays((batch, length, size), -1.0, 1.0), label="context")
    leading = np.stack([draw(S.distinct_array((words,)), label="query first feature") for _ in range(batch)])
    rest = draw(S.arrays((batch, words, size - 1), -0.25, 0.25), label="query other features")
    query = np.concatenate([leading[..., None], rest], axis=2)
    context_weight = draw(S.arrays((size,), -1.0, 1.0), label="w_c")
    query_weight = draw(S.arrays((size,), -0.1, 0.1), label="w_q")
    query_weight[0] = draw(S.signed_magnitudes((), margin=1.0, high=2.0), label="w_q[0]")
    product_weight = draw(S.arrays((size,), -0.1, 0.1), label="w_cq")
    weight = np.concatenate([context_weight, query_weight, product_weight])
    context_mask = draw(side_masks((batch, length), allow_none=False), label="context mask")
    query_mask = draw(side_masks((batch, words), allow_none=False), label="query mask")
    return weight, context, query, context_mask, query_mask


def outputs_and_gradients(module, x1, x2, mask1, mask2, upstreams):
    """The module's outputs and the gradients of their projection on `upstreams` (both inputs, every parameter)."""
    module.zero_grad()
    x1, x2 = ta.tensor(x1, requires_grad=True), ta.tensor(x2, requires_grad=True)
    outputs = module(x1, x2, mask1, mask2)
    S.projected(outputs, upstreams).backward()
    return [output.data for output in outputs], [x1.grad, x2.grad], [p.grad for p in module.parameters()]


def projected_question(module, question):
    """tanh(q W + b) of question rows (..., D) when the module projects the question; the rows as they are if not."""
    if not module.project_question:
        return question
    return np.tanh(question @ module.projection.weight.data + module.projection.bias.data)


def make_coattention(size, config, seed=0, dtype=np.float64):
    sentinel, project_question = config
    return CoAttention(size, sentinel=sentinel, project_question=project_question, dtype=dtype, rng=seed)


# ----- CoAttention: forward -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(), seed=st.integers(0, 2**16))
def test_coattention_matches_the_papers_equations_in_column_convention(config, case, seed):
    document, question, document_mask, question_mask = case
    module = make_coattention(document.shape[2], config, seed)
    output = module(document, question, document_mask, question_mask)
    assert isinstance(output, CoAttentionOutput)
    (batch, m, size), n, extra = document.shape, question.shape[1], int(config[0])
    shapes = [(batch, m, 2 * size), (batch, n, size), (batch, m, n + extra), (batch, n, m + extra),
              (batch, m + extra, n + extra)]
    expected = coattention_reference(module, document, question, document_mask, question_mask)
    for got, want, shape in zip(output, expected, shapes, strict=True):
        assert got.shape == shape and got.dtype == np.float64
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(pairs())
def test_coattention_without_sentinels_or_projection_has_no_parameters_and_is_mutual_attention(case):
    """C^Q = summary2, A^D = weights1, A^Q = weights2, L = similarity and C^D = [summary1; weights1 @ summary2]."""
    document, question, document_mask, question_mask = case
    module = CoAttention(document.shape[2], sentinel=False, project_question=False, dtype=np.float64)
    assert list(module.parameters()) == []
    output = module(document, question, document_mask, question_mask)
    mutual = mutual_attention(document, question, document_mask, question_mask)
    second_level = mutual.weights1.data @ mutual.summary2.data
    np.testing.assert_allclose(output.document_context.data,
                               np.concatenate([mutual.summary1.data, second_level], axis=2), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(output.question_context.data, mutual.summary2.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(output.document_weights.data, mutual.weights1.data)
    np.testing.assert_array_equal(output.question_weights.data, mutual.weights2.data)
    np.testing.assert_array_equal(output.affinity.data, mutual.similarity.data)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(), seed=st.integers(0, 2**16))
def test_document_context_is_the_question_then_the_second_level_summary_read_by_the_document(config, case, seed):
    """C^D = A^D [Q'; C^Q]: its first half is A^D Q' and its second half A^D C^Q, the document reading the question
    words' summaries of the document. With sentinels, A^D's last column is the question sentinel's, whose own row of
    Q' and C^Q (the sentinel, and its summary softmax(L[:, n]) over the document) the outputs leave out."""
    document, question, document_mask, question_mask = case
    module = make_coattention(document.shape[2], config, seed)
    output = module(document, question, document_mask, question_mask)
    size, n = document.shape[2], question.shape[1]
    projected = zero_padding(projected_question(module, question), question_mask)  # Q' (B, n, D)
    question_context = output.question_context.data  # C^Q (B, n, D)
    if module.sentinel:
        hidden_document = np.concatenate([zero_padding(document, document_mask),
                                          np.broadcast_to(module.document_sentinel.data, (document.shape[0], 1, size))],
                                         axis=1)  # (B, m + 1, D)
        document_real = np.concatenate([real_positions(document, document_mask),
                                        np.ones((document.shape[0], 1), bool)], axis=1)
        sentinel_weights = np.stack([masked_softmax(output.affinity.data[b, :, n], document_real[b])
                                     for b in range(document.shape[0])])  # the question sentinel over the document
        sentinel_context = np.einsum("bi,bid->bd", sentinel_weights, hidden_document)[:, None, :]  # (B, 1, D)
        sentinel = projected_question(module, module.question_sentinel.data)  # (D,)
        projected = np.concatenate([projected, np.broadcast_to(sentinel, (document.shape[0], 1, size))], axis=1)
        question_context = np.concatenate([question_context, sentinel_context], axis=1)  # (B, n + 1, D)
    weights = output.document_weights.data  # A^D (B, m, n')
    np.testing.assert_allclose(output.document_context.data[..., :size], weights @ projected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(output.document_context.data[..., size:], weights @ question_context, rtol=1e-12,
                               atol=1e-14)


# ----- CoAttention: gradients ---------------------------------------------------------------------------------------
@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(case=pairs(max_batch=2, max_steps=3, max_size=3, allow_none=False), config=st.sampled_from(CONFIGS),
       seed=st.integers(0, 2**16), data=st.data())
def test_coattention_gradients_wrt_both_inputs_and_every_parameter(case, config, seed, data):
    """All four configurations (drawn), each output with its own upstream gradient; tanh and softmax are smooth."""
    document, question, document_mask, question_mask = case
    module = make_coattention(document.shape[2], config, seed)
    parameters = list(module.parameters())
    assert len(parameters) == PARAMETER_COUNTS[config]  # sentinels, W and b: none skipped
    check_gradients(document, question, lambda d, q: module(d, q, document_mask, question_mask), parameters, data)


# ----- CoAttention: weights, sentinels and padding ------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(), seed=st.integers(0, 2**16))
def test_coattention_weights_sum_to_one_and_padding_gets_and_gives_nothing(config, case, seed):
    """Every real position's row sums to one (over the other side's real positions and its sentinel); a padded
    column gets weight exactly 0; a padded position's row and contexts are zero; the sentinel column is never
    padding, so with sentinels every real row sums to one even when the other side is empty."""
    document, question, document_mask, question_mask = case
    module = make_coattention(document.shape[2], config, seed)
    output = module(document, question, document_mask, question_mask)
    document_real, question_real = real_positions(document, document_mask), real_positions(question, question_mask)
    for weights, contexts, rows, columns in [
            (output.document_weights, output.document_context, document_real, question_real),
            (output.question_weights, output.question_context, question_real, document_real)]:
        if module.sentinel:
            columns = np.concatenate([columns, np.ones((columns.shape[0], 1), bool)], axis=1)
        assert np.all(weights.data[np.broadcast_to(~columns[:, None, :], weights.shape)] == 0.0)
        assert np.all(weights.data[~rows] == 0.0) and np.all(contexts.data[~rows] == 0.0)
        looks = rows & columns.any(axis=1, keepdims=True)
        np.testing.assert_allclose(weights.data[looks].sum(axis=-1), 1.0, rtol=1e-12)
        assert np.all(weights.data[~looks] == 0.0) and np.all(contexts.data[~looks] == 0.0)


def test_sentinels_add_one_column_that_takes_all_the_weight_when_the_other_side_is_empty():
    """The weights' last column is the other side's sentinel; a document with an empty question attends to the
    question sentinel alone (and the reverse), so its context is the sentinel's row, [q_0; C^Q_0]."""
    rng = np.random.default_rng(21)
    module = CoAttention(3, dtype=np.float64, rng=1)
    document, question = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 2, 3))
    document_mask = np.array([[True, True, False, True], [False] * 4])  # row 1: empty document
    question_mask = np.array([[False, False], [True, True]])  # row 0: empty question
    output = module(document, question, document_mask, question_mask)
    assert output.document_weights.shape == (2, 4, 3) and output.question_weights.shape == (2, 2, 5)
    assert output.document_context.shape == (2, 4, 6) and output.question_context.shape == (2, 2, 3)
    np.testing.assert_array_equal(output.document_weights.data[0], [[0, 0, 1], [0, 0, 1], [0, 0, 0], [0, 0, 1]])
    np.testing.assert_array_equal(output.question_weights.data[1], [[0, 0, 0, 0, 1], [0, 0, 0, 0, 1]])
    # row 1, question words read the document sentinel only: C^Q = d_0
    np.testing.assert_allclose(output.question_context.data[1], np.tile(module.document_sentinel.data, (2, 1)),
                               rtol=1e-15)
    # row 0, the document reads q_0 and the question sentinel's summary of the document
    hidden = np.vstack([zero_padding(document, document_mask)[0], module.document_sentinel.data])
    sentinel_weights = masked_softmax(output.affinity.data[0, :, 2], np.append(document_mask[0], True))
    expected = np.concatenate([projected_question(module, module.question_sentinel.data), sentinel_weights @ hidden])
    np.testing.assert_allclose(output.document_context.data[0, [0, 1, 3]], np.tile(expected, (3, 1)), rtol=1e-12)
    assert np.all(output.document_context.data[0, 2] == 0.0)


def test_coattention_without_sentinels_and_an_empty_side_gives_zeros_and_zero_finite_gradients():
    rng = np.random.default_rng(22)
    module = CoAttention(3, sentinel=False, dtype=np.float64, rng=2)
    document = ta.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    question = ta.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    document_mask = np.array([[True, True, False, True], [False] * 4])  # row 1: empty document
    question_mask = np.array([[False, False], [True, False]])  # row 0: empty question
    output = module(document, question, document_mask, question_mask)
    for part in output:
        assert np.all(part.data == 0.0)  # each row has an empty side: nothing attends anywhere
    S.projected(output, [rng.standard_normal(part.shape) for part in output]).backward()
    assert np.all(np.isfinite(document.grad)) and np.all(np.isfinite(question.grad))
    assert np.all(document.grad == 0.0) and np.all(question.grad == 0.0)
    assert all(np.all(np.isfinite(p.grad)) and np.all(p.grad == 0.0) for p in module.parameters())


GARBAGE = [np.nan, np.inf, -np.inf, 1e4]
FIRST_MASK = np.array([[True, False, True, False], [False] * 4, [True, True, True, True]])  # row 1: empty
SECOND_MASK = np.array([[False, True, True], [True, False, True], [False] * 3])  # row 2: empty


def check_garbage_is_invisible(module, garbage, seed):
    """Garbage at padded positions: outputs and real gradients as with padding of ones, zero gradients at padding."""
    rng = np.random.default_rng(seed)
    clean1 = np.where(FIRST_MASK[..., None], rng.standard_normal((3, 4, 3)), 1.0)
    clean2 = np.where(SECOND_MASK[..., None], rng.standard_normal((3, 3, 3)), 1.0)
    dirty1, dirty2 = clean1.copy(), clean2.copy()
    dirty1[~FIRST_MASK], dirty2[~SECOND_MASK] = garbage, garbage
    upstreams = [rng.standard_normal(part.shape) for part in module(clean1, clean2, FIRST_MASK, SECOND_MASK)]
    outputs, inputs_grads, parameter_grads = outputs_and_gradients(module, clean1, clean2, FIRST_MASK,
                                                                   SECOND_MASK, upstreams)
    dirty_outputs, dirty_inputs_grads, dirty_parameter_grads = outputs_and_gradients(
        module, dirty1, dirty2, FIRST_MASK, SECOND_MASK, upstreams)
    for got, expected in zip(dirty_outputs + dirty_parameter_grads, outputs + parameter_grads, strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)
    for got, expected, mask in zip(dirty_inputs_grads, inputs_grads, [FIRST_MASK, SECOND_MASK], strict=True):
        assert np.all(np.isfinite(got))
        np.testing.assert_array_equal(got[mask], expected[mask])
        assert np.all(got[~mask] == 0.0) and np.any(got[mask] != 0.0)


def check_zero_padding_gets_zero_gradient(module, seed):
    """The layer does not depend on a padded position, so a padded position holding zeros gets a zero gradient, as
    one holding anything else does (a central difference there is 0: gradcheck)."""
    rng = np.random.default_rng(seed)
    x1 = ta.tensor(np.where(FIRST_MASK[..., None], rng.standard_normal((3, 4, 3)), 0.0), requires_grad=True)
    x2 = ta.tensor(np.where(SECOND_MASK[..., None], rng.standard_normal((3, 3, 3)), 0.0), requires_grad=True)
    upstreams = [rng.standard_normal(part.shape) for part in module(x1, x2, FIRST_MASK, SECOND_MASK)]
    ta.gradcheck(lambda *_: S.projected(module(x1, x2, FIRST_MASK, SECOND_MASK), upstreams), x1, x2)
    S.projected(module(x1, x2, FIRST_MASK, SECOND_MASK), upstreams).backward()
    assert np.all(x1.grad[~FIRST_MASK] == 0.0) and np.all(x2.grad[~SECOND_MASK] == 0.0)


@pytest.mark.parametrize("garbage", GARBAGE, ids=["nan", "inf", "-inf", "1e4"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_coattention_garbage_in_padded_positions_changes_no_output_and_no_gradient(config, garbage):
    check_garbage_is_invisible(make_coattention(3, config, seed=3), garbage, seed=23)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_coattention_padding_stored_as_zeros_gets_zero_gradient(config):
    check_zero_padding_gets_zero_gradient(make_coattention(3, config, seed=4), seed=24)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(allow_none=False), extra1=st.integers(0, 2), extra2=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_coattention_appending_padded_positions_changes_nothing_at_the_real_ones(config, case, extra1, extra2, seed):
    document, question, document_mask, question_mask = case
    module = make_coattention(document.shape[2], config, seed)
    output = module(document, question, document_mask, question_mask)
    (batch, m, size), n = document.shape, question.shape[1]
    longer = module(np.concatenate([document, np.full((batch, extra1, size), 3.0)], axis=1),
                    np.concatenate([question, np.full((batch, extra2, size), -3.0)], axis=1),
                    np.concatenate([document_mask, np.zeros((batch, extra1), bool)], axis=1),
                    np.concatenate([question_mask, np.zeros((batch, extra2), bool)], axis=1))
    # the weights' sentinel column moves to the end of the longer axis
    columns_of_document = list(range(m)) + ([m + extra1] if module.sentinel else [])
    columns_of_question = list(range(n)) + ([n + extra2] if module.sentinel else [])
    np.testing.assert_allclose(longer.document_context.data[:, :m], output.document_context.data, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(longer.question_context.data[:, :n], output.question_context.data, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(longer.document_weights.data[:, :m][:, :, columns_of_question],
                               output.document_weights.data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(longer.question_weights.data[:, :n][:, :, columns_of_document],
                               output.question_weights.data, rtol=1e-12, atol=1e-15)
    assert np.all(longer.document_weights.data[:, :, n:n + extra2] == 0.0)
    assert np.all(longer.question_weights.data[:, :, m:m + extra1] == 0.0)
    assert np.all(longer.document_context.data[:, m:] == 0.0) and np.all(longer.question_context.data[:, n:] == 0.0)


# ----- BiDAF: forward and gradients ---------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(), seed=st.integers(0, 2**16))
def test_bidaf_matches_the_papers_equations_with_the_explicit_concatenation(case, seed):
    context, query, context_mask, query_mask = case
    module = BiDAFAttention(context.shape[2], dtype=np.float64, rng=seed)
    output = module(context, query, context_mask, query_mask)
    assert isinstance(output, BiDAFOutput)
    (batch, length, size), words = context.shape, query.shape[1]
    shapes = [(batch, length, 4 * size), (batch, length, words), (batch, length), (batch, length, words)]
    for got, want, shape in zip(output, bidaf_reference(module, context, query, context_mask, query_mask), shapes,
                                strict=True):
        assert got.shape == shape and got.dtype == np.float64
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)


@settings(max_examples=GRADIENT_EXAMPLES, deadline=None)
@given(case=separated_bidaf_cases(), data=st.data())
def test_bidaf_gradients_wrt_both_inputs_and_the_weight_away_from_ties_in_the_max(case, data):
    weight, context, query, context_mask, query_mask = case
    module = BiDAFAttention(context.shape[2], dtype=np.float64, rng=0)
    module.weight.data[:] = weight
    parameters = list(module.parameters())
    assert len(parameters) == 1  # w = [w_c; w_q; w_cq]: the only parameter
    similarity = bidaf_reference(module, context, query, context_mask, query_mask)[3]
    for b in range(context.shape[0]):  # the construction holds: the real words' scores are far apart in every row
        real = similarity[b][:, query_mask[b]]  # (T, real J)
        gaps = np.abs(real[:, :, None] - real[:, None, :])[:, ~np.eye(real.shape[1], dtype=bool)]
        assert gaps.size == 0 or gaps.min() > 0.5
    check_gradients(context, query, lambda c, q: module(c, q, context_mask, query_mask), parameters, data)


# ----- BiDAF: weights and padding -----------------------------------------------------------------------------------
@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(), seed=st.integers(0, 2**16))
def test_bidaf_weights_sum_to_one_over_real_positions_and_padding_gets_zero(case, seed):
    context, query, context_mask, query_mask = case
    output = BiDAFAttention(context.shape[2], dtype=np.float64, rng=seed)(context, query, context_mask, query_mask)
    context_real, query_real = real_positions(context, context_mask), real_positions(query, query_mask)
    c2q, q2c = output.context_to_query.data, output.query_to_context.data
    assert np.all(c2q[np.broadcast_to(~query_real[:, None, :], c2q.shape)] == 0.0)  # padded query words: weight 0
    assert np.all(c2q[~context_real] == 0.0) and np.all(output.output.data[~context_real] == 0.0)
    looks = context_real & query_real.any(axis=1, keepdims=True)
    np.testing.assert_allclose(c2q[looks].sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(c2q[~looks] == 0.0)
    assert np.all(q2c[~context_real] == 0.0)
    has_context = context_real.any(axis=1)
    np.testing.assert_allclose(q2c[has_context].sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(q2c[~has_context] == 0.0)


def test_bidaf_without_a_real_query_word_ties_the_context_and_reads_nothing():
    """Documented: c~ = 0 and b uniform over the real context positions, so G = [c; 0; 0; c * mean of real c]."""
    rng = np.random.default_rng(25)
    module = BiDAFAttention(3, dtype=np.float64, rng=5)
    context = ta.tensor(rng.standard_normal((1, 4, 3)), requires_grad=True)
    query = ta.tensor(rng.standard_normal((1, 2, 3)), requires_grad=True)
    context_mask, query_mask = np.array([[True, False, True, True]]), np.array([[False, False]])
    output = module(context, query, context_mask, query_mask)
    np.testing.assert_allclose(output.query_to_context.data, [[1 / 3, 0.0, 1 / 3, 1 / 3]], rtol=1e-15)
    assert np.all(output.context_to_query.data == 0.0)
    real = context.data[0, context_mask[0]]  # (3, D)
    mean = real.mean(axis=0)
    expected = np.concatenate([real, np.zeros_like(real), np.zeros_like(real), real * mean], axis=1)
    np.testing.assert_allclose(output.output.data[0, context_mask[0]], expected, rtol=1e-12)
    assert np.all(output.output.data[0, 1] == 0.0)
    S.projected(output, [rng.standard_normal(part.shape) for part in output]).backward()
    for grad in (context.grad, query.grad, module.weight.grad):
        assert np.all(np.isfinite(grad))
    assert np.all(query.grad == 0.0) and np.all(context.grad[~context_mask] == 0.0)


def test_bidaf_without_a_real_context_position_gives_zeros_and_finite_gradients():
    """Documented: "everything is zero" (the output G and both attentions) with finite gradients; the context
    positions are all padding, so their gradient is zero."""
    rng = np.random.default_rng(26)
    module = BiDAFAttention(3, dtype=np.float64, rng=6)
    context = ta.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    query = ta.tensor(rng.standard_normal((2, 2, 3)), requires_grad=True)
    context_mask, query_mask = np.array([[False] * 3, [True, True, False]]), np.array([[True, False], [True, True]])
    output = module(context, query, context_mask, query_mask)
    for part in (output.output, output.context_to_query, output.query_to_context):
        assert np.all(part.data[0] == 0.0)
    S.projected(output, [rng.standard_normal(part.shape) for part in output]).backward()
    for grad in (context.grad, query.grad, module.weight.grad):
        assert np.all(np.isfinite(grad))
    assert np.all(context.grad[0] == 0.0)


@pytest.mark.parametrize("garbage", GARBAGE, ids=["nan", "inf", "-inf", "1e4"])
def test_bidaf_garbage_in_padded_positions_changes_no_output_and_no_gradient(garbage):
    check_garbage_is_invisible(BiDAFAttention(3, dtype=np.float64, rng=7), garbage, seed=27)


def test_bidaf_padding_stored_as_zeros_gets_zero_gradient():
    check_zero_padding_gets_zero_gradient(BiDAFAttention(3, dtype=np.float64, rng=8), seed=28)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(case=pairs(allow_none=False), extra1=st.integers(0, 2), extra2=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_bidaf_appending_padded_positions_changes_nothing_at_the_real_ones(case, extra1, extra2, seed):
    context, query, context_mask, query_mask = case
    module = BiDAFAttention(context.shape[2], dtype=np.float64, rng=seed)
    output = module(context, query, context_mask, query_mask)
    (batch, length, size), words = context.shape, query.shape[1]
    longer = module(np.concatenate([context, np.full((batch, extra1, size), 3.0)], axis=1),
                    np.concatenate([query, np.full((batch, extra2, size), -3.0)], axis=1),
                    np.concatenate([context_mask, np.zeros((batch, extra1), bool)], axis=1),
                    np.concatenate([query_mask, np.zeros((batch, extra2), bool)], axis=1))
    np.testing.assert_allclose(longer.output.data[:, :length], output.output.data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(longer.context_to_query.data[:, :length, :words], output.context_to_query.data,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(longer.query_to_context.data[:, :length], output.query_to_context.data, rtol=1e-12,
                               atol=1e-15)
    assert np.all(longer.output.data[:, length:] == 0.0) and np.all(longer.query_to_context.data[:, length:] == 0.0)
    assert np.all(longer.context_to_query.data[:, :, words:] == 0.0)


def test_bidaf_padded_query_word_with_the_highest_score_is_left_out_of_the_max():
    """With w_q . q_j < 0 for every real word, a padded word (q_j = 0 after hiding, score w_c . c_t) would win the
    max over j if it were let in; b must be the softmax of the max over the real words only."""
    module = BiDAFAttention(2, dtype=np.float64, rng=0)
    module.weight.data[:] = [0.5, -0.25, 1.0, 1.0, 0.0, 0.0]  # w_c, w_q, w_cq = 0
    context = np.array([[[1.0, 2.0], [-1.0, 0.5]]])
    query = np.array([[[-1.0, -2.0], [-0.5, -0.25], [7.0, 7.0]]])
    query_mask = np.array([[True, True, False]])
    output = module(context, query, None, query_mask)
    best = (context[0] @ module.weight.data[:2]) + (-0.75)  # max over the real words of w_q . q_j is -0.75
    expected = np.exp(best - best.max()) / np.exp(best - best.max()).sum()
    np.testing.assert_allclose(output.query_to_context.data[0], expected, rtol=1e-12)


# ----- dtypes -------------------------------------------------------------------------------------------------------
LAYERS = {
    "CoAttention": lambda dtype: CoAttention(3, dtype=dtype, rng=0),
    "CoAttention-plain": lambda dtype: CoAttention(3, sentinel=False, project_question=False, dtype=dtype, rng=0),
    "BiDAFAttention": lambda dtype: BiDAFAttention(3, dtype=dtype, rng=0),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_float32_layers_on_float32_inputs_stay_float32(name):
    rng = np.random.default_rng(29)
    module = LAYERS[name](np.float32)
    x1 = ta.tensor(rng.standard_normal((2, 3, 3)).astype(np.float32), requires_grad=True)
    x2 = ta.tensor(rng.standard_normal((2, 2, 3)).astype(np.float32), requires_grad=True)
    output = module(x1, x2, np.array([[True, False, True], [True] * 3]), np.array([[True, True], [False, True]]))
    assert all(part.dtype == np.float32 for part in output)
    S.projected(output, [np.ones(part.shape, np.float32) for part in output]).backward()
    assert x1.grad.dtype == np.float32 and x2.grad.dtype == np.float32
    assert all(parameter.grad.dtype == np.float32 for parameter in module.parameters())


@pytest.mark.parametrize("name", [name for name in LAYERS if name != "CoAttention-plain"])
def test_a_float32_layer_refuses_float64_inputs_with_a_dtype_error(name):
    op = name.split("-")[0]
    S.assert_error_names(DTypeError, lambda: LAYERS[name](np.float32)(np.zeros((2, 3, 3)), np.zeros((2, 2, 3))),
                         [f"{op}: ", "the inputs are float64 but the parameters are float32", "(2, 3, 3) float64",
                          "(2, 2, 3) float64"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_coattention_without_parameters_takes_either_float_dtype_and_keeps_it(dtype):
    """Without sentinels or projection there is no parameter to agree with: float32 and float64 inputs both work,
    whatever dtype the layer was made with, and the outputs keep the inputs' dtype. Mixed inputs are still refused."""
    module = CoAttention(3, sentinel=False, project_question=False, dtype=np.float32)
    assert list(module.parameters()) == []
    rng = np.random.default_rng(30)
    output = module(rng.standard_normal((2, 3, 3)).astype(dtype), rng.standard_normal((2, 2, 3)).astype(dtype))
    assert all(part.dtype == dtype for part in output)
    S.assert_error_names(DTypeError, lambda: module(np.zeros((2, 3, 3), dtype), np.zeros((2, 2, 3), np.float16)),
                         ["CoAttention: ", "must share a dtype"])


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_layer_converted_with_astype_takes_inputs_of_its_new_dtype(name):
    """The DTypeError's advice, ``module.astype(...)``, works: the converted layer accepts float64 inputs."""
    module = LAYERS[name](np.float32).astype(np.float64)
    output = module(np.ones((1, 2, 3)), np.ones((1, 2, 3)))
    assert all(part.dtype == np.float64 for part in output)


@pytest.mark.parametrize("name", list(LAYERS))
def test_no_masks_are_the_same_as_all_true_masks(name):
    rng = np.random.default_rng(30)
    module = LAYERS[name](np.float64)
    x1, x2 = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 5, 3))
    for unmasked, masked in zip(module(x1, x2), module(x1, x2, np.ones((2, 3), bool), np.ones((2, 5), bool)),
                                strict=True):
        np.testing.assert_array_equal(unmasked.data, masked.data)


# ----- bad input ----------------------------------------------------------------------------------------------------
def _floats(*shape, dtype=np.float64):
    return np.zeros(shape, dtype)


BAD_INPUTS = [
    # (x1, x2, mask1, mask2), error, fragments besides the op and the input names
    ((_floats(2, 3, 4), _floats(2, 5, 4), None, None), ShapeError, ["of size 3 on their last axis", "(2, 3, 4) float64",
                                                                      "(2, 5, 4) float64"]),
    ((_floats(2, 3, 3), _floats(2, 5, 4), None, None), ShapeError, ["same feature size D", "(2, 3, 3) float64",
                                                                      "(2, 5, 4) float64"]),
    ((_floats(2, 3, 3), _floats(3, 5, 3), None, None), ShapeError, ["same batch size B", "(2, 3, 3) float64",
                                                                      "(3, 5, 3) float64"]),
    ((_floats(2, 3), _floats(2, 5, 3), None, None), ShapeError, ["(B, T1, D)", "(2, 3) float64"]),
    ((_floats(2, 0, 3), _floats(2, 5, 3), None, None), ShapeError, ["empty axis", "(2, 0, 3) float64"]),
    ((_floats(2, 3, 3), _floats(2, 0, 3), None, None), ShapeError, ["empty axis", "(2, 0, 3) float64"]),
    ((_floats(2, 3, 3, dtype=np.int64), _floats(2, 5, 3), None, None), DTypeError, ["float", "(2, 3, 3) int64"]),
    ((_floats(2, 3, 3), _floats(2, 5, 3, dtype=np.float32), None, None), DTypeError,
     ["share a dtype", "(2, 3, 3) float64", "(2, 5, 3) float32"]),
    ((_floats(2, 3, 3), _floats(2, 5, 3), np.ones((2, 3), np.int64), None), DTypeError,  # 0/1 ints are refused
     ["boolean", "_mask (2, 3) int64"]),
    ((_floats(2, 3, 3), _floats(2, 5, 3), None, np.ones((2, 3), bool)), ShapeError,
     ["(B, T) = (2, 5)", "_mask (2, 3) bool"]),
]


@pytest.mark.parametrize("name, names", [("CoAttention", ("document", "question")),
                                         ("BiDAFAttention", ("context", "query"))])
@pytest.mark.parametrize("inputs, error, fragments", BAD_INPUTS)
def test_bad_input_raises_an_error_naming_the_op_every_shape_and_dtype(name, names, inputs, error, fragments):
    module = LAYERS[name](np.float64)
    first, second = names
    x1, x2, mask1, mask2 = inputs
    named = [f"{first} {x1.shape}", f"{second} {x2.shape}"]
    named += [f"{first}_mask {mask1.shape}"] if mask1 is not None else []
    named += [f"{second}_mask {mask2.shape}"] if mask2 is not None else []
    S.assert_error_names(error, lambda: module(*inputs), [f"{name}: ", *fragments, *named])


@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), (3.0, TypeError), (True, TypeError),
                                          (None, TypeError)])
@pytest.mark.parametrize("make, op", [(lambda size: CoAttention(size), "CoAttention"),
                                      (lambda size: CoAttention(size, sentinel=False, project_question=False),
                                       "CoAttention"),
                                      (lambda size: BiDAFAttention(size), "BiDAFAttention")],
                         ids=["CoAttention", "CoAttention-plain", "BiDAFAttention"])
def test_constructors_refuse_an_input_size_that_is_not_a_positive_integer(make, op, value, error):
    with pytest.raises(error) as caught:
        make(value)
    assert type(caught.value) is error
    assert str(caught.value).startswith(f"{op}: input_size must be an integer")
    assert f"input_size={value!r}" in str(caught.value)


def test_layers_are_reproducible_from_their_seed():
    for make in (lambda: CoAttention(3, rng=9), lambda: BiDAFAttention(3, rng=9)):
        first, second = make(), make()
        for a, b in zip(first.parameters(), second.parameters(), strict=True):
            np.testing.assert_array_equal(a.data, b.data)
