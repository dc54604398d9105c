"""tinyattn: attention mechanisms on a small reverse-mode autodiff engine over NumPy.

    import tinyattn as ta
    import tinyattn.functional as F

    x = ta.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    F.softmax(x * 2.0).max().backward()
    x.grad

``import tinyattn`` loads the engine only (the Tensor, the operations, gradcheck). The larger parts (``nn``,
``optim``, ``attention``, ``distributions``, ``estimators``, ``vision``, ``viz``, ``io``, ``functional``) load on
first use, ``ta.nn`` or ``import tinyattn.nn`` alike, so a program that needs a few tensors does not pay for the
rest.
"""
import importlib

from tinyattn.engine import enable_grad, is_grad_enabled, no_grad
from tinyattn.errors import (
    CheckpointError,
    DTypeError,
    GradcheckError,
    GraphError,
    IndexOpError,
    OpError,
    ShapeError,
)
from tinyattn.gradcheck import gradcheck
from tinyattn.primitive import REGISTRY, primitive
from tinyattn.random import manual_seed
from tinyattn.tensor import Tensor, as_tensor, tensor

__version__ = "0.1.0"

# Loaded on first use: the submodules, and the names that live in one of them.
_SUBMODULES = (
    "attention", "distributions", "estimators", "functional", "io", "kernels", "nn", "ops", "optim", "vision", "viz",
)
_NAMES_IN = {"save": "io", "load": "io"}

__all__ = [
    "Tensor", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "primitive", "REGISTRY",
    "gradcheck", "manual_seed", "save", "load", *_SUBMODULES,
    "OpError", "ShapeError", "DTypeError", "IndexOpError", "GraphError", "GradcheckError", "CheckpointError",
]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"tinyattn.{name}")
    if name in _NAMES_IN:
        return getattr(importlib.import_module(f"tinyattn.{_NAMES_IN[name]}"), name)
    raise AttributeError(f"module 'tinyattn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
