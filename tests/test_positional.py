"""Positions: the sinusoidal encoding and rotary angles against their formulas written out here, the properties
that make them useful (bounded, distinct positions; RoPE scores depend only on m - n; rotations keep norms),
offsets, gradients (float64, random upstream) and the errors for bad input."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
from tinyattn.attention.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    rotary_angles,
)
from tinyattn.errors import DTypeError, ShapeError


def sinusoid_by_formula(length, d_model, base=10000.0, offset=0):
    """PE[t, 2i] = sin(t / base^(2i/d)), PE[t, 2i+1] = cos(t / base^(2i/d)), one element at a time."""
    table = np.zeros((length, d_model))
    for t in range(length):
        position = offset + t
        for column in range(d_model):
            pair = column // 2
            angle = position / base ** (2 * pair / d_model)
            table[t, column] = np.sin(angle) if column % 2 == 0 else np.cos(angle)
    return table


def rotate_by_formula(vector, position, base=10000.0):
    """Each pair (v[2i], v[2i+1]) turned by position * base^(-2i/d), as a 2 x 2 rotation matrix."""
    rotated = np.empty_like(vector)
    for pair in range(vector.shape[-1] // 2):
        angle = position * base ** (-2 * pair / vector.shape[-1])
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        rotated[2 * pair: 2 * pair + 2] = rotation @ vector[2 * pair: 2 * pair + 2]
    return rotated


# ----- sinusoidal ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("d_model", [1, 4, 7, 16])
def test_sinusoidal_table_matches_the_formula_for_even_and_odd_sizes(d_model):
    encoding = SinusoidalPositionalEncoding(d_model, dtype=np.float64)
    np.testing.assert_allclose(encoding.encoding(12), sinusoid_by_formula(12, d_model), rtol=1e-12, atol=1e-12)


def test_sinusoidal_forward_adds_the_rows_at_the_offset():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 6))
    out = SinusoidalPositionalEncoding(6, base=100.0)(x, offset=3)
    np.testing.assert_allclose(out.data, x + sinusoid_by_formula(5, 6, base=100.0, offset=3), atol=1e-12)


def test_sinusoidal_values_are_bounded_and_positions_are_distinct():
    table = SinusoidalPositionalEncoding(32, dtype=np.float64).encoding(2048)
    assert np.abs(table).max() <= 1.0
    gaps = np.linalg.norm(table[:, None, :256] - table[None, :256, :], axis=-1)  # every pair among the first 256
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() > 1e-3
    assert len(np.unique(table.round(6), axis=0)) == len(table)


def test_sinusoidal_offset_equals_slicing_a_longer_table():
    encoding = SinusoidalPositionalEncoding(10, max_length=40)
    np.testing.assert_array_equal(encoding.encoding(7, offset=30), encoding.encoding(37)[30:])


def test_sinusoidal_has_no_parameters_and_passes_the_gradient_through():
    encoding = SinusoidalPositionalEncoding(4)
    assert list(encoding.parameters()) == [] and encoding.state_dict() == {}
    x = ta.tensor(np.zeros((1, 3, 4)), requires_grad=True)
    upstream = np.random.default_rng(1).standard_normal((1, 3, 4))
    encoding(x).backward(upstream)
    np.testing.assert_array_equal(x.grad, upstream)


def test_sinusoidal_keeps_float32_and_float64():
    encoding = SinusoidalPositionalEncoding(6)
    assert encoding.encoding(3).dtype == np.float32
    for dtype in (np.float32, np.float64):
        assert encoding(np.zeros((2, 3, 6), dtype)).dtype == dtype


# ----- learned ------------------------------------------------------------------------------------------------------
def test_learned_forward_adds_the_rows_at_the_offset():
    embedding = LearnedPositionalEmbedding(8, 3, dtype=np.float64, rng=0)
    x = np.random.default_rng(2).standard_normal((2, 4, 3))
    np.testing.assert_array_equal(embedding(x, offset=3).data, x + embedding.weight.data[3:7])


def test_learned_gradient_reaches_only_the_used_rows():
    embedding = LearnedPositionalEmbedding(8, 3, dtype=np.float64, rng=0)
    upstream = np.random.default_rng(3).standard_normal((2, 4, 3))
    embedding(np.zeros((2, 4, 3)), offset=2).backward(upstream)
    expected = np.zeros((8, 3))
    expected[2:6] = upstream.sum(axis=0)
    np.testing.assert_allclose(embedding.weight.grad, expected, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), offset=st.integers(0, 2), length=st.integers(1, 3))
def test_learned_gradcheck(data, offset, length):
    embedding = LearnedPositionalEmbedding(6, 3, dtype=np.float64, rng=4)
    x = ta.tensor(data.draw(S.arrays((2, length, 3)), label="x"), requires_grad=True)
    upstream = data.draw(S.upstream_gradients((2, length, 3)), label="upstream")
    assert ta.gradcheck(lambda x, weight: embedding(x, offset=offset), x, embedding.weight, grad_output=upstream)


def test_learned_stays_float32():
    embedding = LearnedPositionalEmbedding(4, 2)
    x = ta.tensor(np.ones((1, 2, 2), np.float32), requires_grad=True)
    out = embedding(x)
    out.backward(np.ones((1, 2, 2), np.float32))
    assert embedding.weight.dtype == out.dtype == x.grad.dtype == embedding.weight.grad.dtype == np.float32


# ----- rotary -------------------------------------------------------------------------------------------------------
def test_rotary_angles_match_the_formula():
    cos, sin = rotary_angles(5, 6, base=50.0, offset=2, dtype=np.float64)
    angles = np.array([[(2 + t) * 50.0 ** (-2 * pair / 6) for pair in range(3)] for t in range(5)])
    assert cos.shape == sin.shape == (5, 3)
    np.testing.assert_allclose(cos, np.cos(angles), atol=1e-12)
    np.testing.assert_allclose(sin, np.sin(angles), atol=1e-12)


def test_apply_rotary_turns_interleaved_pairs_as_the_formula_does():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 8))
    out = apply_rotary(x, *rotary_angles(4, 8, offset=3, dtype=np.float64)).data
    expected = np.array([[rotate_by_formula(x[b, t], 3 + t) for t in range(4)] for b in range(2)])
    np.testing.assert_allclose(out, expected, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 500), n=st.integers(0, 500), shift=st.integers(0, 500), seed=st.integers(0, 2**16))
def test_rotary_score_depends_only_on_the_distance(m, n, shift, seed):
    rng = np.random.default_rng(seed)
    query, key = rng.standard_normal((2, 1, 16))  # one position each: (T, dim) = (1, 16)

    def score(query_position, key_position):
        rotated_query = apply_rotary(query, *rotary_angles(1, 16, offset=query_position, dtype=np.float64))
        rotated_key = apply_rotary(key, *rotary_angles(1, 16, offset=key_position, dtype=np.float64))
        return float((rotated_query * rotated_key).sum().data)

    np.testing.assert_allclose(score(m + shift, n + shift), score(m, n), rtol=1e-9, atol=1e-9)
    if m != n:  # and it does depend on the distance: not the plain dot product
        assert abs(score(m, n) - float(np.sum(query * key))) > 1e-6


def test_rotary_keeps_norms():
    x = np.random.default_rng(6).standard_normal((3, 2, 7, 10))  # (B, H, T, Dh)
    out = apply_rotary(x, *rotary_angles(7, 10, offset=11, dtype=np.float64)).data
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)


def test_rotary_offset_equals_slicing_a_longer_table():
    long_cos, long_sin = rotary_angles(20, 6)
    cos, sin = rotary_angles(5, 6, offset=15)
    np.testing.assert_allclose(cos, long_cos[15:], atol=1e-7)
    np.testing.assert_allclose(sin, long_sin[15:], atol=1e-7)
    x = np.random.default_rng(7).standard_normal((2, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(apply_rotary(x, cos, sin).data, apply_rotary(x, long_cos[15:], long_sin[15:]).data,
                               atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.sampled_from([(3, 2), (2, 3, 4), (1, 2, 2, 6)]), offset=st.integers(0, 100))
def test_apply_rotary_gradcheck(data, shape, offset):
    x = ta.tensor(data.draw(S.arrays(shape), label="x"), requires_grad=True)
    cos, sin = rotary_angles(shape[-2], shape[-1], offset=offset, dtype=np.float64)
    upstream = data.draw(S.upstream_gradients(shape), label="upstream")
    assert ta.gradcheck(lambda x: apply_rotary(x, cos, sin), x, grad_output=upstream)


def test_apply_rotary_gradient_is_the_inverse_rotation():
    upstream = np.random.default_rng(8).standard_normal((3, 4))
    x = ta.tensor(np.zeros((3, 4)), requires_grad=True)
    cos, sin = rotary_angles(3, 4, offset=2, dtype=np.float64)
    apply_rotary(x, cos, sin).backward(upstream)
    np.testing.assert_allclose(x.grad, apply_rotary(upstream, cos, -sin).data, atol=1e-12)


def test_apply_rotary_keeps_float32():
    x = ta.tensor(np.ones((2, 3, 4), np.float32), requires_grad=True)
    out = apply_rotary(x, *rotary_angles(3, 4))
    out.backward(np.ones((2, 3, 4), np.float32))
    assert out.dtype == x.grad.dtype == np.float32


# ----- errors -------------------------------------------------------------------------------------------------------
def test_odd_dim_is_refused_by_rotary_angles_and_apply_rotary():
    with pytest.raises(ValueError, match=r"rotary_angles: dim must be even.*dim=5"):
        rotary_angles(3, 5)
    cos, sin = rotary_angles(3, 4)
    with pytest.raises(ShapeError, match=r"apply_rotary: .*dim even.*x \(2, 3, 5\) float32, cos \(3, 2\) float32"):
        apply_rotary(np.zeros((2, 3, 5), np.float32), cos, sin)


def test_apply_rotary_errors_name_the_op_shapes_and_dtypes():
    cos, sin = rotary_angles(3, 4)
    with pytest.raises(ShapeError, match=r"apply_rotary: expected x .*got x \(4,\) float32"):
        apply_rotary(np.zeros(4, np.float32), cos, sin)
    with pytest.raises(ShapeError, match=r"apply_rotary: cos and sin .*x \(2, 5, 4\) float32, cos \(3, 2\)"):
        apply_rotary(np.zeros((2, 5, 4), np.float32), cos, sin)
    with pytest.raises(DTypeError, match=r"apply_rotary: cos and sin must have x's dtype.*x \(2, 3, 4\) float64"):
        apply_rotary(np.zeros((2, 3, 4)), cos, sin)
    with pytest.raises(DTypeError, match=r"apply_rotary: needs float x.*x \(2, 3, 4\) int64"):
        apply_rotary(np.zeros((2, 3, 4), np.int64), cos, sin)


def test_too_long_is_refused_naming_the_positions():
    learned = LearnedPositionalEmbedding(4, 2)
    with pytest.raises(ShapeError, match=r"LearnedPositionalEmbedding: positions 1 \.\. 4 .*max_length 4; "
                                         r"got x \(1, 4, 2\) float32, weight \(4, 2\) float32"):
        learned(np.zeros((1, 4, 2), np.float32), offset=1)
    sinusoidal = SinusoidalPositionalEncoding(2, max_length=4)
    with pytest.raises(ShapeError, match=r"SinusoidalPositionalEncoding: positions 0 \.\. 4 .*max_length 4; "
                                         r"got x \(1, 5, 2\) float32"):
        sinusoidal(np.zeros((1, 5, 2), np.float32))
    sinusoidal(np.zeros((1, 4, 2), np.float32))  # exactly max_length fits


def test_positional_layers_refuse_wrong_ndim_size_and_dtype():
    for layer in (SinusoidalPositionalEncoding(4), LearnedPositionalEmbedding(5, 4)):
        name = type(layer).__name__
        with pytest.raises(ShapeError, match=rf"{name}: expected x \(B, T, D\) with D = d_model = 4; got x \(3, 4\)"):
            layer(np.zeros((3, 4), np.float32))
        with pytest.raises(ShapeError, match=rf"{name}: .*d_model = 4; got x \(1, 3, 5\) float32"):
            layer(np.zeros((1, 3, 5), np.float32))
        with pytest.raises(DTypeError, match=rf"{name}: needs float x.*int32"):
            layer(np.zeros((1, 3, 4), np.int32))
        with pytest.raises(ValueError, match=rf"{name}: offset must be an integer >= 0"):
            layer(np.zeros((1, 3, 4), np.float32), offset=-1)
    with pytest.raises(DTypeError, match=r"LearnedPositionalEmbedding: x is float64 but the table is float32"):
        LearnedPositionalEmbedding(5, 4)(np.zeros((1, 3, 4)))


def test_constructors_check_their_sizes():
    with pytest.raises(ValueError, match=r"SinusoidalPositionalEncoding: d_model must be an integer >= 1"):
        SinusoidalPositionalEncoding(0)
    with pytest.raises(TypeError, match=r"LearnedPositionalEmbedding: max_length must be an integer"):
        LearnedPositionalEmbedding(4.0, 2)
    with pytest.raises(ValueError, match=r"SinusoidalPositionalEncoding: base must be a number > 1"):
        SinusoidalPositionalEncoding(4, base=1.0)
