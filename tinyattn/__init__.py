"""tinyattn: attention mechanisms on a small reverse-mode autodiff engine over NumPy.

    import tinyattn as ta
    import tinyattn.functional as F

    x = ta.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    F.softmax(x * 2.0).max().backward()
    x.grad
"""
from tinyattn.errors import (
    CheckpointError, DTypeError, GradcheckError, GraphError, IndexOpError, OpError, ShapeError,
)
from tinyattn.tensor import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad, tensor
from tinyattn.primitive import REGISTRY, primitive
from tinyattn.gradcheck import gradcheck
from tinyattn.random import manual_seed
from tinyattn import attention, functional, io, nn, optim, viz
from tinyattn.io import load, save

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "primitive", "REGISTRY", "gradcheck",
    "manual_seed", "save", "load", "functional", "nn", "optim", "io", "attention", "viz",
    "OpError", "ShapeError", "DTypeError", "IndexOpError", "GraphError", "GradcheckError", "CheckpointError",
]
