"""The glimpse sensor: what a model that looks at an image a piece at a time sees at one location (Mnih et al., 2014).

A glimpse at location l is a few square patches centred on l: the first of side `size` at full resolution, the next
twice as wide, then four times, ..., each average-pooled to size x size. So the centre is sharp and the surroundings
ever coarser, like a retina: little to read per glimpse, but enough context to decide where to look next.

Locations are in [-1, 1]^2, (row, column): (-1, -1) is the top-left corner of the image, (0, 0) its centre, (1, 1)
the bottom-right corner; row r in [-1, 1] is pixel row (r + 1) / 2 * H, rounded to the nearest corner of a patch.
A location may lie outside the image (a policy's sample can): pixels outside count as zeros.
"""
import numpy as np

from tinyattn import ops
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.primitive import as_array
from tinyattn.tensor import Tensor, as_tensor


def glimpse(images, locations, size, scales=1):
    """The glimpses of `images` at `locations`: for each image, `scales` patches centred on its location, of side
    size, 2 size, 4 size, ..., each average-pooled to size x size; zeros outside the image.

    Shapes: images (B, H, W) or (B, C, H, W), float32 or float64; locations (B, 2), (row, column) in [-1, 1]
    (beyond is allowed). Returns (B, scales, C, size, size) (C = 1 for (B, H, W) images).

    Differentiable in the images; the locations get no gradient (they are sampled in the recurrent attention model
    and learn by REINFORCE), so a location Tensor that requires grad is refused: pass ``locations.detach()``.
    """
    images = as_tensor(images)
    _check(images, locations, size, scales)
    if images.ndim == 3:
        images = images.expand_dims(1)  # (B, H, W) -> (B, 1, H, W)
    corners = glimpse_corners(as_array(locations), images.shape[2:], size, scales)  # (B, S, 2)
    return ops.glimpse(images, corners, size)  # (B, S, C, size, size)


def glimpse_corners(locations, image_size, size, scales):
    """The top-left pixels (row, column) of each location's patches: (B, 2) -> (B, scales, 2) int64.

    Patch s has side size * 2**s and is centred, to the nearest pixel corner, on ((l + 1) / 2) * (H, W).
    """
    extent = np.asarray(image_size, np.float64)  # (H, W)
    sides = size * 2.0 ** np.arange(scales)  # (S,)
    centres = (np.asarray(locations, np.float64) + 1.0) / 2.0 * extent  # (B, 2) pixels
    # A centre far outside sees only zeros wherever it is; bounding it keeps the corners far from int64's limits.
    centres = np.clip(centres, -sides[-1], extent + sides[-1])
    return np.floor(centres[:, None, :] - sides[None, :, None] / 2 + 0.5).astype(np.int64)  # (B, S, 2)


def _check(images, locations, size, scales):
    for name, value in (("size", size), ("scales", scales)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise (ValueError if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else TypeError)(
                f"glimpse: {name} must be an integer >= 1, got {value!r}")
    if isinstance(locations, Tensor) and locations.requires_grad:
        raise ValueError("glimpse: the locations get no gradient (they are sampled; their policy learns by "
                         "REINFORCE); pass locations.detach()")
    location_array = as_array(locations)
    described = (f"images {images.shape} {images.dtype}, locations {location_array.shape} {location_array.dtype}, "
                 f"size {size}, scales {scales}")
    if images.dtype not in (np.float32, np.float64):
        raise DTypeError(f"glimpse: images must be float32 or float64; got {described}")
    if location_array.dtype.kind not in "iuf":
        raise DTypeError(f"glimpse: locations must be numbers; got {described}")
    if images.ndim not in (3, 4) or 0 in images.shape:
        raise ShapeError(f"glimpse: images must be (B, H, W) or (B, C, H, W), none of them 0; got {described}")
    if location_array.shape != (images.shape[0], 2):
        raise ShapeError(f"glimpse: locations must be (B, 2), one (row, column) per image; got {described}")
    if not np.isfinite(location_array).all():
        raise ValueError(f"glimpse: locations must be finite; got {described}")
    if size * 2 ** (scales - 1) > 16 * max(images.shape[-2:]):
        raise ValueError(f"glimpse: the widest patch, size * 2**(scales - 1) = {size * 2 ** (scales - 1)} pixels, is "
                         f"more than 16 times the image's side; it would read little but zeros at great cost; got "
                         f"{described}")
