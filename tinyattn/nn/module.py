"""Module and Parameter: how layers hold their parameters, and how models are assembled from layers.

As in PyTorch, a Module registers the Parameters and sub-Modules assigned to its attributes, so
``model.parameters()``, ``state_dict()``, ``train()``/``eval()`` and ``zero_grad()`` reach every one of them.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.io import restored_array
from tinyattn.nn import torch_layout
from tinyattn.tensor import Tensor

#: The keys load_state_dict(strict=False) could not match.
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter when it is assigned to an attribute. Requires grad."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True, dtype=None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self):
        return "Parameter(" + super().__repr__()[len("tensor("):]


class Module:
    """Base class of layers and models: subclass it, assign Parameters and Modules in ``__init__`` (after calling
    ``super().__init__()``), and define ``forward``. Calling the module calls ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign '{name}' before Module.__init__(): call super().__init__() first in "
                f"{type(self).__name__}.__init__"
            )
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """Keep `array` (not trained: no gradient) as state of this module, saved in its state_dict."""
        self.__setattr__(name, np.asarray(array))
        self._buffers[name] = getattr(self, name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    # ----- walking the tree ---------------------------------------------------------------------------------------
    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return (module for _, module in self.named_children())

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every module below it, each once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child)
                        for child_name, child in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) for every parameter, each once even when shared between modules."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, parameter in module._parameters.items():
                if id(parameter) not in seen:
                    seen.add(id(parameter))
                    yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self, recurse=True):
        return (parameter for _, parameter in self.named_parameters(recurse=recurse))

    def named_buffers(self):
        for module_name, module in self.named_modules():
            for name, buffer in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), buffer

    # ----- modes and gradients -------------------------------------------------------------------------------------
    def train(self, mode=True):
        """Training mode (dropout active) for this module and all below it; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (dropout off); the same as train(False)."""
        return self.train(False)

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.grad = None

    def astype(self, dtype):
        """Convert every floating parameter and buffer to `dtype` in place (e.g. np.float64 for gradcheck)."""
        for parameter in self.parameters():
            parameter.data = parameter.data.astype(dtype)
            parameter.grad = None
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer.dtype.kind == "f":
                    module.register_buffer(name, buffer.astype(dtype))
        return self

    # ----- state ----------------------------------------------------------------------------------------------------
    def state_dict(self):
        """Dotted name -> a copy of each parameter's and buffer's array, in registration order."""
        state = OrderedDict((name, parameter.data.copy()) for name, parameter in self.named_parameters())
        state.update((name, np.array(buffer, copy=True)) for name, buffer in self.named_buffers())
        return state

    def load_state_dict(self, state, strict=True):
        """Copy arrays from `state` into the parameters and buffers of the same names (cast to their dtypes).

        All or nothing: every value is checked before any is written. With strict=True, missing keys, unexpected
        keys, mis-shaped arrays (each with both shapes) and values that do not convert to their dtype (strings,
        objects, complex numbers, overflow: see ``tinyattn.io.restored_array``; NaN is fine) raise one error listing
        them all, ShapeError if a key or a shape is wrong and DTypeError otherwise. With strict=False, the missing
        and unexpected keys are returned instead; a mis-shaped or unconvertible value is an error either way.
        Parameters are written in place and marked modified (``Tensor.version``): a graph recorded before the load
        cannot be backpropagated through.
        """
        owner = f"load_state_dict into {type(self).__name__}"
        targets = OrderedDict(self.named_parameters())
        buffers = OrderedDict(self.named_buffers())
        own_names = list(targets) + list(buffers)
        missing = [name for name in own_names if name not in state]
        unexpected = [name for name in state if name not in targets and name not in buffers]
        values, misshaped, unconvertible = {}, [], []
        for name, target in list(targets.items()) + list(buffers.items()):
            if name not in state:
                continue
            target = target.data if isinstance(target, Tensor) else target
            try:
                values[name] = restored_array(state[name], target.dtype, name)
            except DTypeError as error:
                unconvertible.append(str(error))
                continue
            if values[name].shape != target.shape:
                misshaped.append(f"{name}: checkpoint {values[name].shape} vs model {target.shape}")
        _raise_problems(owner, strict, missing, unexpected, misshaped, unconvertible)
        for name, parameter in targets.items():
            if name in values:
                np.copyto(parameter.data, values[name])
                parameter.mark_modified()
        for module_name, module in self.named_modules():
            for name in list(module._buffers):
                full = f"{module_name}.{name}" if module_name else name
                if full in values:
                    module.register_buffer(name, values[full])
        return IncompatibleKeys(missing, unexpected)

    # ----- the bridge to PyTorch (see tinyattn.nn.torch_layout) ------------------------------------------------------
    def torch_state_dict(self):
        """Torch's name -> a copy of each array in torch's layout: what ``torch_model.load_state_dict`` takes (after
        ``torch.from_numpy``) for the same model built in torch. Linear weights are transposed, GRU/LSTM weights
        too, MultiHeadAttention's projections packed; see tinyattn.nn.torch_layout for every difference."""
        return OrderedDict((entry.torch_name, array) for entry, array in self._torch_arrays())

    def load_torch_state_dict(self, state, strict=True):
        """Copy the arrays of a torch state dict (torch's names and layouts, NumPy arrays or anything np.asarray
        takes) into this model, converted to tinyattn's layouts and cast to the parameters' dtypes.

        All or nothing, with the errors and the strict=False result of ``load_state_dict``: missing and unexpected
        names are torch's, and a mis-shaped array is reported with torch's shape for it."""
        owner = f"load_torch_state_dict into {type(self).__name__}"
        pairs = self._torch_arrays()  # (entry, this model's array in torch's layout): the shape and dtype to expect
        missing = [entry.torch_name for entry, _ in pairs if entry.torch_name not in state]
        expected = {entry.torch_name for entry, _ in pairs}
        unexpected = [name for name in state if name not in expected]
        values, misshaped, unconvertible = {}, [], []
        for entry, target in pairs:
            if entry.torch_name not in state:
                continue
            try:
                value = restored_array(state[entry.torch_name], target.dtype, entry.torch_name)
            except DTypeError as error:
                unconvertible.append(str(error))
                continue
            if value.shape != target.shape:
                misshaped.append(f"{entry.torch_name}: given {value.shape} vs model {target.shape}")
                continue
            values.update(zip(entry.names, entry.from_torch(value), strict=True))
        _raise_problems(owner, strict, missing, unexpected, misshaped, unconvertible)
        own_names = set(self._state_names())  # a shared parameter is loaded once, under its first name
        self.load_state_dict({name: value for name, value in values.items() if name in own_names}, strict=False)
        return IncompatibleKeys(missing, unexpected)

    def _torch_layout(self):
        """The torch_layout.Entry list of this module; layers whose torch twin names or shapes parameters
        differently override it (or ``_torch_children`` alone, to rename submodules)."""
        return torch_layout.default_layout(self)

    def _torch_children(self):
        """(torch's name, tinyattn's dotted name) of each submodule in the default layout: by default, every one
        under its own name."""
        return [(name, name) for name in self._modules]

    def _torch_arrays(self):
        """(torch_layout.Entry, its array in torch's layout) for every entry of this module's layout, after checking
        that the layout covers every parameter and buffer."""
        layout = self._torch_layout()
        covered = {name for entry in layout for name in entry.names}
        uncovered = [name for name in self._state_names() if name not in covered]
        if uncovered:
            raise NotImplementedError(f"{type(self).__name__}: no torch layout for {', '.join(uncovered)} "
                                      f"(a _torch_children or _torch_layout leaves them out)")
        return [(entry, entry.to_torch(*(torch_layout.array_at(self, name) for name in entry.names)))
                for entry in layout]

    def _state_names(self):
        """The keys of state_dict, in order, without copying any array."""
        return [name for name, _ in self.named_parameters()] + [name for name, _ in self.named_buffers()]

    # ----- printing -------------------------------------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses in repr (its configuration)."""
        return ""

    def __repr__(self):
        lines = [f"  ({name}): " + repr(module).replace("\n", "\n  ") for name, module in self._modules.items()]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        head = f"{type(self).__name__}(" + (self.extra_repr() + "," if self.extra_repr() else "")
        return head + "\n" + "\n".join(lines) + "\n)"


def _raise_problems(owner, strict, missing, unexpected, misshaped, unconvertible):
    """One error listing every problem a load found (see Module.load_state_dict), or nothing."""
    problems = []
    if strict and missing:
        problems.append("missing keys: " + ", ".join(missing))
    if strict and unexpected:
        problems.append("unexpected keys: " + ", ".join(unexpected))
    if misshaped:
        problems.append("mis-shaped: " + "; ".join(misshaped))
    if unconvertible:
        problems.append("wrong dtype: " + "; ".join(unconvertible))
    if problems:
        error = DTypeError if len(problems) == 1 and unconvertible else ShapeError
        raise error(f"{owner}: " + ". ".join(problems))


class ModuleList(Module):
    """A list of modules, registered as children "0", "1", ... so their parameters are found."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList holds Modules, not {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index):
        items = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(items[index])
        return items[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class Sequential(ModuleList):
    """Modules applied one after another: Sequential(a, b, c)(x) = c(b(a(x)))."""

    def __init__(self, *modules):
        super().__init__(modules)

    def forward(self, x):
        for module in self:
            x = module(x)
        return x
