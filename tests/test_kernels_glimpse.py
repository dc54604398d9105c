"""The glimpse kernels (tinyattn/kernels/glimpse.py) equal their NumPy references, forward and backward, and give the
documented values: hand-computed patches and pools, zeros outside the image, the input's dtype.

Kernels are called as ``.numba(...)`` and ``.reference(...)`` directly, so these tests check both whatever the
switch (TINYATTN_NUMBA) says.

Why exact equality: the drawn values are multiples of 1/8 in [-8, 8] (S.dyadic_arrays). A pooled cell sums at most
16 of them and divides by a power of two (4**s), and a pixel's gradient sums at most 3 such quotients, so every
partial sum is exactly representable in float32 and float64: whatever order the kernel and the reference add in,
and whether the kernel accumulates in float64 (it does) or in the input's dtype (NumPy's mean does), the results
are the same numbers. Arbitrary values are compared once, with a tolerance, in
test_kernel_and_reference_agree_within_rounding_on_arbitrary_values.
"""
import numpy as np
import pytest
from hypothesis import given, settings

import strategies as S
from tinyattn.kernels import glimpse as glimpse_kernels

EXAMPLES = 100
forward, backward = glimpse_kernels.glimpse_forward, glimpse_kernels.glimpse_backward


@settings(max_examples=EXAMPLES)
@given(case=S.glimpse_kernel_inputs())
def test_forward_kernel_equals_its_reference_exactly_and_writes_no_input(case):
    images, corners, size, _ = case
    images_before, corners_before = images.copy(), corners.copy()
    expected = forward.reference(images, corners, size)
    got = forward.numba(images, corners, size)
    assert (got.dtype, got.shape) == (images.dtype, (images.shape[0], corners.shape[1], images.shape[1], size, size))
    assert (expected.dtype, expected.shape) == (got.dtype, got.shape)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(images, images_before)
    np.testing.assert_array_equal(corners, corners_before)
    S.assert_module_compiled_once_per_dtype(glimpse_kernels)  # whatever layouts this example's arrays had


@settings(max_examples=EXAMPLES)
@given(case=S.glimpse_kernel_inputs())
def test_backward_kernel_equals_its_reference_exactly_and_writes_no_input(case):
    images, corners, _, grad = case
    grad_before, corners_before = grad.copy(), corners.copy()
    expected = backward.reference(grad, corners, images.shape)
    got = backward.numba(grad, corners, images.shape)
    assert (got.dtype, got.shape) == (grad.dtype, images.shape)
    assert (expected.dtype, expected.shape) == (got.dtype, got.shape)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(grad, grad_before)
    np.testing.assert_array_equal(corners, corners_before)
    S.assert_module_compiled_once_per_dtype(glimpse_kernels)  # whatever layouts this example's arrays had


@settings(max_examples=EXAMPLES)
@given(case=S.glimpse_kernel_inputs())
def test_backward_is_the_adjoint_of_the_forward(case):
    """<grad, forward(x)> == <backward(grad), x>: the forward is linear in the images and the backward its transpose.
    Exact for dyadic values up to the final sums, compared in float64."""
    images, corners, size, grad = case
    for implementation in S.KERNEL_IMPLEMENTATIONS:
        out = getattr(forward, implementation)(images, corners, size).astype(np.float64)
        grad_images = getattr(backward, implementation)(grad, corners, images.shape).astype(np.float64)
        np.testing.assert_allclose(np.sum(grad * out), np.sum(grad_images * images), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_kernel_and_reference_agree_within_rounding_on_arbitrary_values(dtype):
    """Normal values, patches at every kind of place. The kernel adds a pool's 4**s pixels in float64 and rounds
    once; the reference averages in the input's dtype: they differ by at most a rounding of each addition, 16
    additions of values below max|x| at scale 3."""
    rng = np.random.default_rng(7)
    images = rng.standard_normal((3, 2, 13, 11)).astype(dtype)
    corners = rng.integers(-40, 20, (3, 4, 2))
    grad = rng.standard_normal((3, 4, 2, 3, 3)).astype(dtype)
    bound = 16 * np.finfo(dtype).eps * float(np.abs(images).max())
    np.testing.assert_allclose(forward.numba(images, corners, 3), forward.reference(images, corners, 3),
                               rtol=0, atol=bound)
    # Each pixel receives at most one cell per scale, added in the same order (scale by scale) by both.
    np.testing.assert_array_equal(backward.numba(grad, corners, images.shape),
                                  backward.reference(grad, corners, images.shape))


# ----- hand-computed values ------------------------------------------------------------------------------------------
# An 8 x 8 image holding 0..63 row by row; size 2, two scales, centred: corners (3, 3) and (2, 2).
ARANGE = np.arange(64.0).reshape(1, 1, 8, 8)
CENTRED = np.array([[[3, 3], [2, 2]]])


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_centred_glimpse_of_an_arange_image_has_the_hand_computed_values(implementation, dtype):
    out = getattr(forward, implementation)(ARANGE.astype(dtype), CENTRED, 2)
    assert out.dtype == dtype and out.shape == (1, 2, 1, 2, 2)
    # Scale 0: rows 3-4, columns 3-4 as they are.
    np.testing.assert_array_equal(out[0, 0, 0], [[27.0, 28.0], [35.0, 36.0]])
    # Scale 1: rows 2-5, columns 2-5, each 2 x 2 block averaged: (18 + 19 + 26 + 27) / 4 = 22.5, ...
    np.testing.assert_array_equal(out[0, 1, 0], [[22.5, 24.5], [38.5, 40.5]])


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_centred_glimpse_backward_shares_each_cell_among_the_pixels_it_averaged(implementation, dtype):
    grad = np.stack([np.full((1, 2, 2), 1.0), np.array([[[4.0, 8.0], [-4.0, 2.0]]])])[None].astype(dtype)
    grad_images = getattr(backward, implementation)(grad, CENTRED, ARANGE.shape)
    assert grad_images.dtype == dtype and grad_images.shape == ARANGE.shape
    expected = np.zeros((8, 8))
    expected[3:5, 3:5] += 1.0  # scale 0: each cell is one pixel
    expected[2:6, 2:6] += np.repeat(np.repeat([[4.0, 8.0], [-4.0, 2.0]], 2, axis=0), 2, axis=1) / 4  # scale 1
    np.testing.assert_array_equal(grad_images[0, 0], expected)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_pixels_outside_count_as_zeros_in_the_average_and_get_no_gradient(implementation, dtype):
    images = (ARANGE + 1).astype(dtype)  # 1..64, so that a zero can only come from outside
    corners = np.array([[[-1, -1], [-1, -1]]])  # over the top-left corner: one row and one column outside
    out = getattr(forward, implementation)(images, corners, 2)
    np.testing.assert_array_equal(out[0, 0, 0], [[0.0, 0.0], [0.0, 1.0]])
    # Scale 1 covers rows and columns -1..2: each 2 x 2 block is divided by its 4 pixels, however many are inside:
    # (1) / 4, (2 + 3) / 4, (9 + 17) / 4, (10 + 11 + 18 + 19) / 4.
    np.testing.assert_array_equal(out[0, 1, 0], [[0.25, 1.25], [6.5, 14.5]])
    grad_images = getattr(backward, implementation)(np.ones((1, 2, 1, 2, 2), dtype), corners, images.shape)
    expected = np.zeros((8, 8))
    expected[0, 0] = 1.0
    expected[0:3, 0:3] += 0.25
    np.testing.assert_array_equal(grad_images[0, 0], expected)


# Corners of a 2 x 2 patch (scale 0) and a 4 x 4 one (scale 1) that lie just outside an 8 x 8 image, or far off.
OUTSIDE = {
    "above": [[-2, 3], [-4, 2]], "below": [[8, 3], [8, 2]], "left": [[3, -2], [2, -4]], "right": [[3, 8], [2, 8]],
    "above-left": [[-2, -2], [-4, -4]], "below-right": [[8, 8], [8, 8]],
    "far above": [[-10**6, 0], [-10**6, 0]], "far right": [[0, 10**6], [0, 10**6]],
}


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
@pytest.mark.parametrize("where", OUTSIDE)
def test_patches_fully_outside_the_image_are_zero_and_send_no_gradient(implementation, dtype, where):
    corners = np.array([OUTSIDE[where]])
    images = (ARANGE + 1).astype(dtype)
    out = getattr(forward, implementation)(images, corners, 2)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, 0.0)
    grad_images = getattr(backward, implementation)(np.ones((1, 2, 1, 2, 2), dtype), corners, images.shape)
    assert grad_images.dtype == dtype
    np.testing.assert_array_equal(grad_images, 0.0)


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
def test_pixels_outside_every_patch_are_never_read(implementation):
    images = np.full((1, 1, 8, 8), np.nan)
    images[..., 2:6, 2:6] = ARANGE[..., 2:6, 2:6]  # finite only under the scale-1 patch
    out = getattr(forward, implementation)(images, CENTRED, 2)
    np.testing.assert_array_equal(out, forward.reference(ARANGE, CENTRED, 2))


@pytest.mark.parametrize("implementation", S.KERNEL_IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_overlapping_patches_of_several_images_and_channels_add_up_in_their_own_image(implementation, dtype):
    images = np.zeros((2, 3, 5, 5), dtype)
    corners = np.array([[[1, 1], [0, 0], [-1, -1]], [[4, 4], [3, 3], [2, 2]]])  # (2, 3, 2), patch sides 1, 2, 4
    grad = np.ones((2, 3, 3, 1, 1), dtype)
    grad[:, :, 1] *= 2.0  # channel 1 gets twice channel 0's gradient, channel 2 three times
    grad[:, :, 2] *= 3.0
    grad_images = getattr(backward, implementation)(grad, corners, images.shape)
    first = np.zeros((5, 5))
    first[1, 1] += 1.0
    first[0:2, 0:2] += 0.25
    first[0:3, 0:3] += 1 / 16  # the 4 x 4 patch from (-1, -1): 9 of its 16 pixels are inside
    second = np.zeros((5, 5))
    second[4, 4] += 1.0
    second[3:5, 3:5] += 0.25
    second[2:5, 2:5] += 1 / 16
    for channel in range(3):
        np.testing.assert_array_equal(grad_images[0, channel], (channel + 1) * first)
        np.testing.assert_array_equal(grad_images[1, channel], (channel + 1) * second)
