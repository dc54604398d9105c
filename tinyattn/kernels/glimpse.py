"""The glimpse sensor's hot loops: crop square patches of images at given corners, average-pool them to one size, and
send a gradient back the same way (Mnih et al., 2014, "Recurrent Models of Visual Attention").

Patch s (s = 0, 1, ...) of image b has side size * 2**s and its top-left pixel at ``corners[b, s]`` (row, column),
possibly outside the image: pixels outside count as zeros. Pooling averages each 2**s x 2**s block, so every patch
comes out size x size: a fovea at full resolution and ever wider, ever coarser rings around it.

Shapes: images (B, C, H, W); corners (B, S, 2) int64; output (B, S, C, size, size). The backward pass spreads each
output cell's gradient evenly over the 4**s pixels it averaged, those inside the image.
"""
import numpy as np

from tinyattn.kernels.exp import kernel_input
from tinyattn.kernels.switch import Kernel, jit


def _inside(start, side, limit):
    """The part [first, stop) of the range [start, start + side) that lies in [0, limit)."""
    return max(start, 0), min(start + side, limit)


def glimpse_forward_reference(images, corners, size):
    """out[b, s] = average-pool(zero-padded crop of images[b] at corners[b, s], side size * 2**s) by 2**s."""
    batch, channels, height, width = images.shape
    out = np.zeros((batch, corners.shape[1], channels, size, size), images.dtype)
    for b in range(batch):
        for s, (top, left) in enumerate(corners[b]):
            factor = 2**s
            side = size * factor
            patch = np.zeros((channels, side, side), images.dtype)
            (row, row_stop), (col, col_stop) = _inside(top, side, height), _inside(left, side, width)
            if row < row_stop and col < col_stop:
                inside = images[b, :, row:row_stop, col:col_stop]
                patch[:, row - top:row_stop - top, col - left:col_stop - left] = inside
            out[b, s] = patch.reshape(channels, size, factor, size, factor).mean(axis=(2, 4))  # (C, size, size)
    return out


def glimpse_backward_reference(grad, corners, image_shape):
    """The gradient for the images (B, C, H, W): each cell of grad (B, S, C, size, size) shared equally among the
    pixels it averaged, summed where patches overlap."""
    _, channels, height, width = image_shape
    size = grad.shape[-1]
    grad_images = np.zeros(image_shape, grad.dtype)
    for b in range(image_shape[0]):
        for s, (top, left) in enumerate(corners[b]):
            factor = 2**s
            side = size * factor
            spread = np.repeat(np.repeat(grad[b, s], factor, axis=1), factor, axis=2) / factor**2  # (C, side, side)
            (row, row_stop), (col, col_stop) = _inside(top, side, height), _inside(left, side, width)
            if row < row_stop and col < col_stop:
                grad_images[b, :, row:row_stop, col:col_stop] += spread[:, row - top:row_stop - top,
                                                                        col - left:col_stop - left]
    return grad_images


@jit
def _forward_loop(images, corners, size, out):
    batch, channels, height, width = images.shape
    for b in range(batch):
        for s in range(corners.shape[1]):
            factor = 2**s
            share = 1.0 / (factor * factor)
            top, left = corners[b, s, 0], corners[b, s, 1]
            for c in range(channels):
                for i in range(size):
                    for j in range(size):
                        total = 0.0
                        for di in range(factor):
                            row = top + i * factor + di
                            if row < 0 or row >= height:
                                continue
                            for dj in range(factor):
                                col = left + j * factor + dj
                                if 0 <= col < width:
                                    total += images[b, c, row, col]
                        out[b, s, c, i, j] = total * share


@jit
def _backward_loop(grad, corners, grad_images):
    batch, channels, height, width = grad_images.shape
    size = grad.shape[-1]
    for b in range(batch):
        for s in range(corners.shape[1]):
            factor = 2**s
            share = 1.0 / (factor * factor)
            top, left = corners[b, s, 0], corners[b, s, 1]
            for c in range(channels):
                for i in range(size):
                    for j in range(size):
                        value = grad[b, s, c, i, j] * share
                        for di in range(factor):
                            row = top + i * factor + di
                            if row < 0 or row >= height:
                                continue
                            for dj in range(factor):
                                col = left + j * factor + dj
                                if 0 <= col < width:
                                    grad_images[b, c, row, col] += value


def glimpse_forward_numba(images, corners, size):
    out = np.empty((images.shape[0], corners.shape[1], images.shape[1], size, size), images.dtype)
    _forward_loop(kernel_input(images), kernel_input(corners, np.int64), size, out)
    return out


def glimpse_backward_numba(grad, corners, image_shape):
    grad_images = np.zeros(image_shape, grad.dtype)
    _backward_loop(kernel_input(grad), kernel_input(corners, np.int64), grad_images)
    return grad_images


glimpse_forward = Kernel(glimpse_forward_reference, glimpse_forward_numba)
glimpse_backward = Kernel(glimpse_backward_reference, glimpse_backward_numba)
