"""The glimpse sensor's public API (tinyattn/vision/sensor.py): shapes, where a location puts the patches (centre,
corners, row first, beyond the image), the images' gradient, locations that get none, and bad input.

Tests that take the `kernels` fixture run with the Numba kernels and with the NumPy references. The kernels' own
equality with their references is tests/test_kernels_glimpse.py; the op's gradient properties are the
"glimpse-scales-borders" row of tests/test_op_gradients.py.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
from tinyattn import DTypeError, ShapeError
from tinyattn.kernels import glimpse as glimpse_kernels
from tinyattn.vision import glimpse, glimpse_corners

# The `kernels` fixture sets the switch once per test, which every example then shares: that is what is wanted.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def leaf(values, dtype=np.float64):
    return ta.tensor(np.asarray(values, dtype), requires_grad=True)


def pooled(patch, factor):
    """Average-pool the last two axes of `patch` by `factor` (both sides divisible by it)."""
    *lead, height, width = patch.shape
    return patch.reshape(*lead, height // factor, factor, width // factor, factor).mean(axis=(-3, -1))


# ----- shapes -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image_shape, channels", [((2, 7, 9), 1), ((2, 3, 7, 9), 3)])
@pytest.mark.parametrize("dtype", S.KERNEL_DTYPES)
def test_three_axis_images_give_one_channel_and_four_axis_images_keep_theirs(kernels, image_shape, channels, dtype):
    images = np.random.default_rng(0).standard_normal(image_shape).astype(dtype)
    out = glimpse(images, np.array([[0.0, 0.0], [0.3, -0.8]]), size=3, scales=2)
    assert isinstance(out, ta.Tensor)
    assert out.shape == (2, 2, channels, 3, 3) and out.dtype == dtype


def test_scales_default_to_one_and_glimpse_corners_has_a_pair_per_scale():
    assert glimpse(np.ones((1, 4, 4)), np.zeros((1, 2)), 2).shape == (1, 1, 1, 2, 2)
    corners = glimpse_corners(np.zeros((3, 2)), (8, 8), 2, 4)
    assert corners.shape == (3, 4, 2) and corners.dtype == np.int64


# ----- where the patches go -----------------------------------------------------------------------------------------
def test_location_zero_centres_each_patch_as_a_direct_crop_shows(kernels):
    images = np.random.default_rng(1).standard_normal((2, 3, 8, 10))
    out = glimpse(images, np.zeros((2, 2)), size=4, scales=2).data
    np.testing.assert_array_equal(out[:, 0], images[:, :, 2:6, 3:7])  # centre (4, 5), side 4
    np.testing.assert_allclose(out[:, 1], pooled(images[:, :, 0:8, 1:9], 2), rtol=1e-12, atol=1e-15)  # side 8


@settings(max_examples=60)
@given(height=st.integers(1, 12), width=st.integers(1, 12), size=st.integers(1, 4), scales=st.integers(1, 3))
def test_location_zero_puts_each_patch_centre_on_the_image_centre_ties_going_down_and_right(height, width, size,
                                                                                            scales):
    corners = glimpse_corners(np.zeros((1, 2)), (height, width), size, scales)[0]  # (S, 2)
    for s, (top, left) in enumerate(corners):
        side = size * 2**s
        # The patch's centre (top + side / 2) lies on the image's (H / 2) when side and H have the same parity, and
        # half a pixel below it otherwise.
        assert (top, left) == (-((side - height) // 2), -((side - width) // 2))


def test_location_minus_one_puts_the_patch_centre_on_the_top_left_corner_half_outside(kernels):
    images = np.random.default_rng(2).uniform(1.0, 2.0, (2, 1, 8, 8))  # never 0: zeros come from outside
    out = glimpse(images, np.full((2, 2), -1.0), size=4, scales=2).data
    for s in range(2):
        np.testing.assert_array_equal(out[:, s, :, :2, :], 0.0)
        np.testing.assert_array_equal(out[:, s, :, :, :2], 0.0)
    np.testing.assert_array_equal(out[:, 0, :, 2:, 2:], images[:, :, :2, :2])
    np.testing.assert_allclose(out[:, 1, :, 2:, 2:], pooled(images[:, :, :4, :4], 2), rtol=1e-12)


def test_location_plus_one_puts_the_patch_centre_on_the_bottom_right_corner(kernels):
    images = np.random.default_rng(3).uniform(1.0, 2.0, (1, 1, 6, 10))
    out = glimpse(images, np.ones((1, 2)), size=2).data
    np.testing.assert_array_equal(out[0, 0, 0], [[images[0, 0, 5, 9], 0.0], [0.0, 0.0]])


def test_row_is_the_first_coordinate_and_each_axis_scales_by_its_own_side(kernels):
    rows, columns = np.meshgrid(np.arange(6.0), np.arange(10.0), indexing="ij")
    images = (100 * rows + columns + 1)[None]  # (1, 6, 10): value 100 * row + column + 1
    top = glimpse(images, np.array([[-1.0, 0.0]]), size=2).data[0, 0, 0]  # centre (0, 5)
    np.testing.assert_array_equal(top, [[0.0, 0.0], [5.0, 6.0]])
    left = glimpse(images, np.array([[0.0, -1.0]]), size=2).data[0, 0, 0]  # centre (3, 0)
    np.testing.assert_array_equal(left, [[0.0, 201.0], [0.0, 301.0]])
    inside = glimpse(images, np.array([[0.5, -0.6]]), size=2).data[0, 0, 0]  # centre (4.5, 2): rows 4-5, cols 1-2
    np.testing.assert_array_equal(inside, images[0, 4:6, 1:3])


@pytest.mark.parametrize("location", [(3.0, 0.0), (-3.0, 0.0), (0.0, 3.0), (0.0, -3.0), (5.0, -7.5), (1e6, 1e6)])
def test_locations_beyond_the_image_are_allowed_and_give_zeros_and_zero_gradients_when_fully_outside(kernels,
                                                                                                     location):
    images = leaf(np.random.default_rng(4).uniform(1.0, 2.0, (1, 2, 8, 8)))
    out = glimpse(images, np.array([location]), size=2, scales=2)
    np.testing.assert_array_equal(out.data, 0.0)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(images.grad, 0.0)


def test_a_location_just_beyond_the_edge_still_sees_the_pixels_its_patch_covers(kernels):
    images = np.random.default_rng(5).uniform(1.0, 2.0, (1, 8, 8))
    out = glimpse(images, np.array([[1.25, 0.0]]), size=4).data  # centre row 9, patch rows 7-10: one row inside
    np.testing.assert_array_equal(out[0, 0, 0, 0], images[0, 7, 2:6])
    np.testing.assert_array_equal(out[0, 0, 0, 1:], 0.0)


# ----- gradients ----------------------------------------------------------------------------------------------------
@settings(max_examples=50, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_gradient_for_the_images_matches_central_differences(kernels, data):
    batch = data.draw(st.integers(1, 2), label="batch")
    lead = data.draw(st.sampled_from([(batch,), (batch, 1), (batch, 2)]), label="lead axes")
    image_shape = lead + (data.draw(st.integers(1, 6), label="H"), data.draw(st.integers(1, 6), label="W"))
    size, scales = data.draw(st.integers(1, 3), label="size"), data.draw(st.integers(1, 3), label="scales")
    images = leaf(data.draw(S.arrays(image_shape), label="images"))
    locations = data.draw(S.arrays((batch, 2), -1.5, 1.5), label="locations")
    channels = image_shape[1] if len(image_shape) == 4 else 1
    upstream = data.draw(S.upstream_gradients((batch, scales, channels, size, size)), label="upstream")
    assert ta.gradcheck(lambda images: glimpse(images, locations, size, scales), images, grad_output=upstream)


def test_location_tensor_that_requires_grad_is_refused_leaf_or_computed():
    images = leaf(np.ones((2, 4, 4)))
    location_leaf = leaf(np.zeros((2, 2)))
    for locations in (location_leaf, location_leaf * 0.5):
        S.assert_error_names(ValueError, lambda locations=locations: glimpse(images, locations, 2),
                             ["glimpse", "locations", "detach()"])


def test_plain_detached_integer_and_float32_locations_are_accepted_and_agree(kernels):
    images = np.random.default_rng(6).standard_normal((2, 1, 8, 8))
    values = [[0.0, -1.0], [1.0, 0.0]]
    expected = glimpse(images, np.array(values), 3, 2).data
    for locations in (values, np.array(values, np.float32), np.array(values, np.int64), ta.tensor(values),
                      leaf(values).detach()):
        np.testing.assert_array_equal(glimpse(images, locations, 3, 2).data, expected)


def test_gradient_reaches_the_images_and_no_location(kernels):
    images = leaf(np.random.default_rng(7).standard_normal((2, 3, 6, 6)))
    location_leaf = leaf([[0.2, -0.4], [-1.0, 0.9]])
    out = glimpse(images, location_leaf.detach(), 2, 3)
    upstream = np.random.default_rng(8).standard_normal(out.shape)
    out.backward(upstream)
    assert location_leaf.grad is None
    corners = glimpse_corners(location_leaf.data, (6, 6), 2, 3)
    expected = glimpse_kernels.glimpse_backward.reference(upstream, corners, images.shape)
    np.testing.assert_array_equal(images.grad, expected)
    # With constant images nothing is recorded: the output depends on the images only.
    assert not glimpse(images.detach(), location_leaf.detach(), 2, 3).requires_grad


def test_float32_images_stay_float32_through_forward_and_backward_and_agree_with_float64(kernels):
    values = np.random.default_rng(9).standard_normal((3, 2, 9, 7))
    locations = np.array([[0.1, 0.2], [-0.9, 0.95], [1.3, -1.2]], np.float32)
    upstream = np.random.default_rng(10).standard_normal((3, 3, 2, 3, 3))
    images32, images64 = leaf(values, np.float32), leaf(values)
    out32, out64 = glimpse(images32, locations, 3, 3), glimpse(images64, locations, 3, 3)
    assert out32.dtype == np.float32
    out32.backward(upstream.astype(np.float32))
    out64.backward(upstream)
    assert images32.grad.dtype == np.float32
    np.testing.assert_allclose(out32.data, out64.data, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(images32.grad, images64.grad, rtol=1e-5, atol=1e-6)


# ----- bad input ------------------------------------------------------------------------------------------------------
BAD_INPUTS = {  # id: (images, locations, size, scales, error, fragments the message must hold)
    "integer images": (np.zeros((2, 5, 5), np.int64), np.zeros((2, 2)), 2, 1, DTypeError,
                       ["glimpse", "(2, 5, 5)", "int64"]),
    "float16 images": (np.zeros((2, 5, 5), np.float16), np.zeros((2, 2)), 2, 1, DTypeError,
                       ["glimpse", "(2, 5, 5)", "float16"]),
    "boolean locations": (np.zeros((2, 5, 5)), np.zeros((2, 2), bool), 2, 1, DTypeError,
                          ["glimpse", "locations (2, 2) bool"]),
    "2-D images": (np.zeros((5, 5)), np.zeros((5, 2)), 2, 1, ShapeError, ["glimpse", "images (5, 5)"]),
    "5-D images": (np.zeros((2, 1, 1, 5, 5)), np.zeros((2, 2)), 2, 1, ShapeError, ["glimpse", "(2, 1, 1, 5, 5)"]),
    "no images": (np.zeros((0, 5, 5)), np.zeros((0, 2)), 2, 1, ShapeError, ["glimpse", "(0, 5, 5)"]),
    "no rows": (np.zeros((2, 0, 5)), np.zeros((2, 2)), 2, 1, ShapeError, ["glimpse", "(2, 0, 5)"]),
    "no channels": (np.zeros((2, 0, 5, 5)), np.zeros((2, 2)), 2, 1, ShapeError, ["glimpse", "(2, 0, 5, 5)"]),
    "no columns": (np.zeros((2, 1, 5, 0)), np.zeros((2, 2)), 2, 1, ShapeError, ["glimpse", "(2, 1, 5, 0)"]),
    "locations for another batch": (np.zeros((2, 5, 5)), np.zeros((3, 2)), 2, 1, ShapeError,
                                    ["glimpse", "images (2, 5, 5)", "locations (3, 2)"]),
    "three coordinates": (np.zeros((2, 5, 5)), np.zeros((2, 3)), 2, 1, ShapeError, ["glimpse", "locations (2, 3)"]),
    "one location for all": (np.zeros((2, 5, 5)), np.zeros(2), 2, 1, ShapeError, ["glimpse", "locations (2,)"]),
    "NaN location": (np.zeros((2, 5, 5)), np.array([[0.0, np.nan], [0.0, 0.0]]), 2, 1, ValueError,
                     ["glimpse", "finite", "locations (2, 2)"]),
    "infinite location": (np.zeros((2, 5, 5)), np.array([[0.0, 0.0], [np.inf, 0.0]]), 2, 1, ValueError,
                          ["glimpse", "finite"]),
    "size 0": (np.zeros((2, 5, 5)), np.zeros((2, 2)), 0, 1, ValueError, ["glimpse", "size", "0"]),
    "negative size": (np.zeros((2, 5, 5)), np.zeros((2, 2)), -2, 1, ValueError, ["glimpse", "size", "-2"]),
    "scales 0": (np.zeros((2, 5, 5)), np.zeros((2, 2)), 2, 0, ValueError, ["glimpse", "scales", "0"]),
    "size 1.5": (np.zeros((2, 5, 5)), np.zeros((2, 2)), 1.5, 1, TypeError, ["glimpse", "size", "1.5"]),
    "size 2.0": (np.zeros((2, 5, 5)), np.zeros((2, 2)), 2.0, 1, TypeError, ["glimpse", "size", "2.0"]),
    "size True": (np.zeros((2, 5, 5)), np.zeros((2, 2)), True, 1, TypeError, ["glimpse", "size", "True"]),
    "scales True": (np.zeros((2, 5, 5)), np.zeros((2, 2)), 2, True, TypeError, ["glimpse", "scales", "True"]),
    "scales as text": (np.zeros((2, 5, 5)), np.zeros((2, 2)), 2, "2", TypeError, ["glimpse", "scales", "'2'"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_raises_an_error_naming_glimpse_and_the_shapes(case):
    images, locations, size, scales, error, fragments = BAD_INPUTS[case]
    S.assert_error_names(error, lambda: glimpse(images, locations, size, scales), fragments)


def test_numpy_integer_size_and_scales_are_accepted():
    assert glimpse(np.ones((1, 6, 6)), np.zeros((1, 2)), np.int64(2), np.int32(2)).shape == (1, 2, 1, 2, 2)


def test_a_huge_finite_location_gives_zeros_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = glimpse(np.ones((1, 4, 4)), np.array([[1e300, -1e300]]), 2)
    np.testing.assert_array_equal(out.data, 0.0)


def test_a_patch_far_wider_than_the_image_is_refused():
    """size * 2**(scales - 1) beyond 16 times the image's side: a huge allocation that reads zeros, refused."""
    with pytest.raises(ValueError, match=r"glimpse: the widest patch, .* = 1024 pixels"):
        glimpse(np.zeros((1, 8, 8)), np.zeros((1, 2)), 8, scales=8)
    assert glimpse(np.zeros((1, 8, 8)), np.zeros((1, 2)), 8, scales=5).shape == (1, 5, 1, 8, 8)  # 128 = 16 x 8
