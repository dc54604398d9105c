"""Optimisers (SGD, Adam, AdamW) and gradient clipping; see tinyattn.optim for the conventions."""
import math

import numpy as np

from tinyattn.engine import enable_grad
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.io import restored_array
from tinyattn.optim._checks import at_least_zero, plain, real
from tinyattn.tensor import Tensor


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``step`` and state dicts.

    Args:
        params: an iterable of leaf Tensors that require grad (e.g. ``model.parameters()``), or a list of
            parameter-group dicts ``{"params": [...], "lr": ..., ...}`` whose missing hyper-parameters take the
            constructor's values. Order matters (it numbers the state in checkpoints), so a set is refused.
        defaults: hyper-parameter name -> value, from the subclass's constructor.

    Attributes:
        param_groups: the list of group dicts; a schedule, or you, may change a group's hyper-parameters between steps.
        state: parameter -> dict of its state (momentum buffers, moment estimates), created at its first update.
    """

    #: name of each per-parameter state entry -> "array" (the parameter's shape and dtype) or "int".
    _state_kinds = {}

    def __init__(self, params, defaults):
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"{name}: params must be an iterable of Tensors or of group dicts, not a single "
                            f"{type(params).__name__}; wrap it in a list")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (a list), not a set: the order numbers "
                            "the parameters in state_dict()")
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a group dict (with a "params" key); its missing hyper-parameters take the constructor's values."""
        name, index = type(self).__name__, len(self.param_groups)
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: parameter group {index} must be a dict with a 'params' key, got "
                            f"{type(group).__name__} (do not mix Tensors and group dicts)")
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: the params of group {index} must be a list, not a set (order matters)")
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(param) for other in self.param_groups for param in other["params"]}
        for position, param in enumerate(params):
            where = f"{name}: parameter {position} of group {index}"
            if not isinstance(param, Tensor):
                raise TypeError(f"{where} is a {type(param).__name__}, not a Tensor")
            if not param.requires_grad:
                raise ValueError(f"{where} (shape {param.shape}, {param.dtype}) does not require grad; "
                                 "create it with requires_grad=True or leave it out")
            if not param.is_leaf:
                raise ValueError(f"{where} (shape {param.shape}) was computed by '{param.op}'; only leaf tensors "
                                 "can be optimised")
            if id(param) in seen:
                raise ValueError(f"{where} (shape {param.shape}) appears more than once: a parameter may be in "
                                 "one group only, once")
            seen.add(id(param))
        group = {**self.defaults, **group, "params": params}
        self._check_group(group, index)
        self.param_groups.append(group)

    def _check_group(self, group, index):
        at_least_zero(f"{type(self).__name__} (parameter group {index})", "learning rate", group["lr"])

    def zero_grad(self, set_to_none=True):
        """Set every parameter's .grad to None (or, with set_to_none=False, fill it with zeros in place)."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none:
                    param.grad = None
                elif param.grad is not None:
                    param.grad.fill(0)

    def step(self, closure=None):
        """Update every parameter that has a gradient, once. `closure`, if given, is called first (with gradient
        recording on) to recompute the loss and its gradients, and its result is returned, as in torch."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                self._check_grad(param)
                self._update(param, self.state.setdefault(param, {}), group)
                param.mark_modified()  # a graph recorded before this step can no longer be backpropagated through
        return loss

    def _check_grad(self, param):
        grad, data = param.grad, param.data
        if not isinstance(grad, np.ndarray):
            error, problem = TypeError, f"a .grad is a {type(grad).__name__}, not a NumPy array"
        elif grad.shape != data.shape:
            error, problem = ShapeError, f"a parameter of shape {data.shape} has a .grad of shape {grad.shape}"
        elif grad.dtype != data.dtype:
            error, problem = DTypeError, f"a {data.dtype} parameter of shape {data.shape} has a {grad.dtype} .grad"
        else:
            return
        raise error(f"{type(self).__name__}.step(): {problem}")

    def _update(self, param, state, group):
        raise NotImplementedError

    # ----- checkpoints --------------------------------------------------------------------------------------------
    def state_dict(self):
        """A flat dict of copies: "param_groups.<g>.<name>" for each group's hyper-parameters (numbers, strings, tuples
        as arrays), "param_groups.<g>.params" for the indices of its parameters (numbered across groups, in order),
        and "state.<i>.<name>" for each parameter's state. Ready for ``np.savez(path, **state_dict)``."""
        flat, first_index = {}, 0
        for group_index, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key == "params":
                    value = np.arange(first_index, first_index + len(group["params"]), dtype=np.int64)
                elif np.asarray(value).dtype.kind not in "biufU" or np.ndim(value) > 1:
                    raise TypeError(f"{type(self).__name__}.state_dict(): param_groups.{group_index}.{key} = "
                                    f"{value!r} cannot be saved without pickling; use numbers, strings or tuples")
                elif np.ndim(value) == 1:
                    value = np.array(value)
                flat[f"param_groups.{group_index}.{key}"] = value
            for index, param in enumerate(group["params"], start=first_index):
                for name, value in self.state.get(param, {}).items():
                    flat[f"state.{index}.{name}"] = value.copy() if isinstance(value, np.ndarray) else value
            first_index += len(group["params"])
        return flat

    def load_state_dict(self, state_dict):
        """Restore what ``state_dict()`` saved, from the same parameters in the same groups (any Mapping: a dict, or
        what ``np.load`` gives). Hyper-parameters are taken from the checkpoint, state arrays are copied into the
        parameters' dtypes. All or nothing: every entry is checked before any is applied, and a checkpoint that does
        not fit (a missing or unknown key, a wrong shape, a value that does not convert to the parameter's dtype:
        see ``tinyattn.io.restored_array``) raises, naming the key, and changes nothing."""
        name = type(self).__name__
        saved = {"param_groups": {}, "state": {}}
        for key in state_dict.keys():
            section, _, rest = str(key).partition(".")
            index, _, field = rest.partition(".")
            if section not in saved or not index.isdigit() or not field:
                raise ValueError(f"{name}.load_state_dict: unexpected key {key!r}")
            saved[section].setdefault(int(index), {})[field] = state_dict[key]
        if sorted(saved["param_groups"]) != list(range(len(self.param_groups))):
            raise ValueError(f"{name}.load_state_dict: the checkpoint has parameter groups "
                             f"{sorted(saved['param_groups'])}, this optimiser has {len(self.param_groups)}")
        param_of, new_groups = {}, []
        for index, group in enumerate(self.param_groups):
            entries = dict(saved["param_groups"][index])
            missing = [f"param_groups.{index}.{key}" for key in ["params", *self.defaults] if key not in entries]
            if missing:
                raise ValueError(f"{name}.load_state_dict: missing {', '.join(missing)}")
            indices = np.asarray(entries.pop("params"))
            if indices.shape != (len(group["params"]),) or indices.dtype.kind not in "iu":
                raise ValueError(f"{name}.load_state_dict: param_groups.{index}.params holds {indices.size} indices, "
                                 f"but group {index} has {len(group['params'])} parameters")
            param_of.update(zip(indices.tolist(), group["params"], strict=True))  # lengths checked above
            if len(param_of) != sum(len(earlier["params"]) for earlier in self.param_groups[:index + 1]):
                raise ValueError(f"{name}.load_state_dict: param_groups.{index}.params repeats an index of this or "
                                 "an earlier group")
            new_group = {**group, **{key: plain(value) for key, value in entries.items()}}
            self._check_group(new_group, index)
            new_groups.append(new_group)
        new_state = {}
        for index, entries in saved["state"].items():
            if index not in param_of:
                raise ValueError(f"{name}.load_state_dict: state.{index} belongs to no parameter")
            if set(entries) != set(self._state_kinds):
                raise ValueError(f"{name}.load_state_dict: state.{index} has {sorted(entries)}, but {name} keeps "
                                 f"{sorted(self._state_kinds)}; is the checkpoint from another optimiser?")
            param = param_of[index]
            new_state[param] = {field: self._restored(f"state.{index}.{field}", field, value, param)
                                for field, value in entries.items()}
        for group, new_group in zip(self.param_groups, new_groups, strict=True):
            group.update(new_group)  # in place: a schedule or a caller holding a group dict sees the change
        self.state = new_state

    def _restored(self, key, field, value, param):
        where = f"{type(self).__name__}.load_state_dict: {key}"
        if self._state_kinds[field] == "int":
            array = np.asarray(value)
            if array.ndim != 0 or array.dtype.kind not in "iu" or array < 0:
                raise ValueError(f"{where} must be an integer >= 0, got {value!r}")
            return int(array)
        array = restored_array(value, param.dtype, where)
        if array.shape != param.shape:
            raise ShapeError(f"{where} has shape {array.shape}, but its parameter has shape {param.shape}")
        return array


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (Polyak 1964; Sutskever et al. 2013), as torch.optim.SGD.

    d = grad + weight_decay * p;  b = d at the first step, then b = momentum * b + (1 - dampening) * d;
    p -= lr * (d + momentum * b if nesterov else b)        (or p -= lr * d without momentum)
    """

    _state_kinds = {"momentum_buffer": "array"}

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov))

    def _check_group(self, group, index):
        super()._check_group(group, index)
        owner = f"SGD (parameter group {index})"
        momentum = at_least_zero(owner, "momentum", group["momentum"])
        dampening = at_least_zero(owner, "dampening", group["dampening"])
        at_least_zero(owner, "weight_decay", group["weight_decay"])
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(f"{owner}: nesterov momentum needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum}, dampening={dampening}")

    def _update(self, param, state, group):
        lr, momentum, weight_decay = float(group["lr"]), float(group["momentum"]), float(group["weight_decay"])
        direction = param.grad
        if weight_decay != 0:
            direction = direction + weight_decay * param.data  # a new array: .grad stays as backward left it
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                # np.array, not .copy(): for a 0-d parameter, direction may be a NumPy scalar, which is immutable.
                buffer = state["momentum_buffer"] = np.array(direction, copy=True)
            else:
                buffer *= momentum
                buffer += (1 - float(group["dampening"])) * direction
            direction = direction + momentum * buffer if group["nesterov"] else buffer
        data = param.data
        data -= lr * direction


class Adam(Optimizer):
    """Adam (Kingma & Ba 2014), as torch.optim.Adam; weight decay is an L2 term added to the gradient.

    g = grad + weight_decay * p;  m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2
    p -= lr / (1 - beta1**t) * m / (sqrt(v / (1 - beta2**t)) + eps)        (t counts this parameter's updates)
    """

    _state_kinds = {"step": "int", "exp_avg": "array", "exp_avg_sq": "array"}
    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_group(self, group, index):
        super()._check_group(group, index)
        owner = f"{type(self).__name__} (parameter group {index})"
        at_least_zero(owner, "eps", group["eps"])
        at_least_zero(owner, "weight_decay", group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
        for position, beta in enumerate(betas):
            if not 0.0 <= real(owner, f"betas[{position}]", beta) < 1.0:
                raise ValueError(f"{owner}: betas[{position}] must be in [0, 1), got {beta}")

    def _update(self, param, state, group):
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(beta) for beta in group["betas"])
        data, grad = param.data, param.grad
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(data), exp_avg_sq=np.zeros_like(data))
        if self._decoupled_weight_decay:
            if weight_decay != 0:
                data *= 1 - lr * weight_decay
        elif weight_decay != 0:
            grad = grad + weight_decay * data  # a new array: .grad stays as backward left it
        state["step"] += 1
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        exp_avg += (1 - beta1) * grad
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * np.square(grad)
        # Python floats: they keep float32 arithmetic in float32.
        bias_correction1 = 1 - beta1 ** state["step"]
        bias_correction2 = 1 - beta2 ** state["step"]
        denominator = np.sqrt(exp_avg_sq)
        denominator /= math.sqrt(bias_correction2)
        denominator += eps
        data -= (lr / bias_correction1) * (exp_avg / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as torch.optim.AdamW.

    p -= lr * weight_decay * p, then the Adam step on the plain gradient: the decay is not rescaled by 1 / sqrt(v).
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together, in place, so that their total norm is at most `max_norm`; return the total
    norm before clipping, a float (Pascanu, Mikolov & Bengio 2013).

    total = || (||g_1||_p, ..., ||g_k||_p) ||_p over the parameters whose .grad is not None (p = norm_type; inf gives
    the largest |g|); when max_norm / (total + 1e-6) < 1, every gradient is multiplied by that factor.
    A non-finite total raises FloatingPointError only with error_if_nonfinite=True (as torch); otherwise an inf
    total zeroes the finite gradients and turns the infinite ones into NaN, and a NaN total changes nothing.
    No gradients (or only empty ones) give 0.0.
    """
    max_norm = at_least_zero("clip_grad_norm_", "max_norm", max_norm)
    norm_type = real("clip_grad_norm_", "norm_type", norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type}")
    parameters = [parameters] if isinstance(parameters, Tensor) else parameters
    grads = [param.grad for param in parameters if param.grad is not None]
    if not grads:
        return 0.0
    # Each norm in float64: the squares of float32 gradients above ~1e19 would overflow to inf.
    norms = [np.linalg.norm(grad.astype(np.float64, copy=False).ravel(), ord=norm_type) for grad in grads if grad.size]
    total = float(np.linalg.norm(np.array(norms), ord=norm_type)) if norms else 0.0
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(f"clip_grad_norm_: the total {norm_type}-norm of {len(grads)} gradients is {total}; "
                                 "a gradient holds NaN or inf")
    factor = max_norm / (total + 1e-6)
    if factor < 1.0:
        with np.errstate(invalid="ignore"):  # inf * 0 when the total is inf: documented above
            for grad in grads:
                grad *= factor
    return total
