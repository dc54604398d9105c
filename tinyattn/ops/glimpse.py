"""The glimpse sensor as an operation: square patches of images, average-pooled to one size (tinyattn.kernels.glimpse).

Differentiable in the images only. Where the patches are (their corners) is a given, not a variable: in the
recurrent attention model the locations are sampled, and a draw has no gradient (the location policy learns by
REINFORCE instead). ``tinyattn.vision.glimpse`` turns locations in [-1, 1]^2 into the corners and checks its inputs.
"""
from tinyattn.kernels import glimpse as kernels
from tinyattn.primitive import primitive


@primitive(n_inputs=1)
def glimpse(images, corners, size):
    """out[b, s] = the patch of images[b] with top-left pixel corners[b, s] and side size * 2**s (zeros outside the
    image), average-pooled by 2**s to size x size. images (B, C, H, W), corners (B, S, 2) int -> (B, S, C, size, size).

    Gradient: each output cell's gradient shared equally among the 4**s pixels it averaged (those in the image).
    """
    out = kernels.glimpse_forward(images, corners, size)
    return out, lambda grad: kernels.glimpse_backward(grad, corners, images.shape)
