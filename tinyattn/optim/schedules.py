"""Learning-rate schedules: StepLR, CosineAnnealingLR, LinearWarmup, SequentialLR."""
import bisect
import itertools
import math

from tinyattn.optim._checks import at_least_zero, fraction, plain, positive_int
from tinyattn.optim.optimizers import Optimizer


class LRScheduler:
    """Base class: after the n-th call of ``step()`` each group's lr is ``lr_at(n, group["initial_lr"])``.

    The schedule is a closed form in n, so one restored from its state_dict continues the same sequence. A group's
    "initial_lr" is set to its lr when the schedule first meets the group (a group that has one keeps it, so
    several schedules on one optimiser share it). Constructing a schedule sets the lr for n = 0; call ``step()``
    after each ``optimizer.step()``. ``last_epoch`` is n (torch's name; it usually counts batches).

    A subclass declares its arguments in `_hyperparameters`, each with the check that validates it (from
    ``tinyattn.optim._checks``); its constructor passes them by name to this one. They become attributes of the same
    names, and state_dict() saves them. load_state_dict() is all or nothing: it checks every value before it sets any.
    """

    #: argument name -> check(owner, name, value), which returns the value as a plain number or raises.
    _hyperparameters = {}

    def __init__(self, optimizer, **hyperparameters):
        self._configure(self._checked(**hyperparameters))
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.last_epoch = -1
        self.step()

    def lr_at(self, step, base_lr):
        """The learning rate after `step` calls of step(), for a group whose initial lr is `base_lr`."""
        raise NotImplementedError

    def step(self):
        self.last_epoch += 1
        self._apply()

    def _apply(self):
        groups = self.optimizer.param_groups
        self._last_lr = [self.lr_at(self.last_epoch, float(group.setdefault("initial_lr", group["lr"])))
                         for group in groups]
        for group, lr in zip(groups, self._last_lr, strict=True):
            group["lr"] = lr

    def get_last_lr(self):
        """The lr this schedule last set, one per group."""
        return list(self._last_lr)

    def state_dict(self):
        """{"last_epoch": n, and each argument of the schedule}: numbers, ready for np.savez."""
        state = {"last_epoch": self.last_epoch}
        state.update((name, getattr(self, name)) for name in self._hyperparameters)
        return state

    def load_state_dict(self, state_dict):
        """Restore n and the arguments from ``state_dict()``, and set each group's lr for that n."""
        self._restore(self._checked_state(state_dict))

    def _checked_state(self, state_dict):
        """What `_restore` takes, (n, checked arguments), from a state_dict, or ValueError or TypeError naming what is
        wrong; sets nothing."""
        name = type(self).__name__
        state = {key: plain(state_dict[key]) for key in state_dict.keys()}
        expected = {"last_epoch", *self._hyperparameters}
        if set(state) != expected:
            raise ValueError(f"{name}.load_state_dict: missing {sorted(expected - set(state))}, unexpected "
                             f"{sorted(set(state) - expected)}")
        last_epoch = state.pop("last_epoch")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < 0:
            raise ValueError(f"{name}.load_state_dict: last_epoch must be an integer >= 0, got {last_epoch!r}")
        return last_epoch, self._checked(**state)

    def _restore(self, state):
        last_epoch, hyperparameters = state
        self._configure(hyperparameters)
        self.last_epoch = last_epoch
        self._apply()

    def _checked(self, **hyperparameters):
        """Each argument named in `_hyperparameters`, checked: name -> plain value. Sets nothing."""
        return {name: check(type(self).__name__, name, hyperparameters[name])
                for name, check in self._hyperparameters.items()}

    def _configure(self, hyperparameters):
        """Keep checked arguments as attributes."""
        for name, value in hyperparameters.items():
            setattr(self, name, value)


class StepLR(LRScheduler):
    """lr = initial_lr * gamma ** (n // step_size): the lr is multiplied by gamma every step_size steps."""

    _hyperparameters = {"step_size": positive_int, "gamma": at_least_zero}

    def __init__(self, optimizer, step_size, gamma=0.1):
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def lr_at(self, step, base_lr):
        return base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * min(n, T_max) / T_max)) / 2 (Loshchilov & Hutter 2017).

    After T_max steps the lr stays at eta_min (torch's follows the cosine back up, which is rarely wanted).
    """

    _hyperparameters = {"T_max": positive_int, "eta_min": at_least_zero}

    def __init__(self, optimizer, T_max, eta_min=0.0):
        super().__init__(optimizer, T_max=T_max, eta_min=eta_min)

    def lr_at(self, step, base_lr):
        progress = min(step, self.T_max) / self.T_max
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2


class LinearWarmup(LRScheduler):
    """lr = initial_lr * (start_factor + (1 - start_factor) * min(n, warmup_steps) / warmup_steps): a linear ramp
    from start_factor * lr to lr over warmup_steps steps, then constant (Goyal et al. 2017). As torch's LinearLR
    with end_factor=1, whose default start_factor 1/3 it shares; start_factor=0 starts from zero."""

    _hyperparameters = {"warmup_steps": positive_int, "start_factor": fraction}

    def __init__(self, optimizer, warmup_steps, start_factor=1.0 / 3):
        super().__init__(optimizer, warmup_steps=warmup_steps, start_factor=start_factor)

    def lr_at(self, step, base_lr):
        progress = min(step, self.warmup_steps) / self.warmup_steps
        return base_lr * (self.start_factor + (1 - self.start_factor) * progress)


class SequentialLR(LRScheduler):
    """Schedules one after another: from step milestones[i - 1] on, the lr is ``schedulers[i]``'s, restarted at
    n - milestones[i - 1]. Warm-up then cosine decay, for 1,000 steps in all:

        SequentialLR(opt, [LinearWarmup(opt, 100), CosineAnnealingLR(opt, T_max=900)], milestones=[100])

    Call step() on this schedule only; the inner ones serve as formulas (their state rides in this one's).
    """

    _hyperparameters = {"milestones": None}  # checked against the schedules by _configure below

    def __init__(self, optimizer, schedulers, milestones):
        self.schedulers = list(schedulers)
        if not self.schedulers or not all(isinstance(inner, LRScheduler) for inner in self.schedulers):
            raise TypeError("SequentialLR: schedulers must be a non-empty list of schedules")
        if any(inner.optimizer is not optimizer for inner in self.schedulers):
            raise ValueError("SequentialLR: every schedule must belong to the optimizer given to SequentialLR")
        super().__init__(optimizer, milestones=milestones)

    def _checked(self, milestones):
        milestones = tuple(milestones)
        if len(milestones) != len(self.schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(self.schedulers)} schedules need {len(self.schedulers) - 1} "
                             f"milestones, got {len(milestones)}")
        for position, milestone in enumerate(milestones):
            positive_int("SequentialLR", f"milestones[{position}]", milestone)
        if any(later <= earlier for earlier, later in itertools.pairwise(milestones)):
            raise ValueError(f"SequentialLR: milestones must increase, got {milestones}")
        return {"milestones": tuple(int(milestone) for milestone in milestones)}

    def lr_at(self, step, base_lr):
        index = bisect.bisect_right(self.milestones, step)
        start = self.milestones[index - 1] if index > 0 else 0
        return self.schedulers[index].lr_at(step - start, base_lr)

    def state_dict(self):
        state = super().state_dict()
        for index, inner in enumerate(self.schedulers):
            state.update((f"schedulers.{index}.{key}", value) for key, value in inner.state_dict().items())
        return state

    def _checked_state(self, state_dict):
        """(own state, each inner schedule's state): every part checked before any is restored, so a bad entry
        anywhere leaves all the schedules as they were."""
        own = {key: state_dict[key] for key in state_dict.keys() if not key.startswith("schedulers.")}
        prefixes = [f"schedulers.{index}." for index in range(len(self.schedulers))]
        stray = [key for key in state_dict.keys()
                 if key.startswith("schedulers.") and not key.startswith(tuple(prefixes))]
        if stray:
            raise ValueError(f"SequentialLR.load_state_dict: unexpected {sorted(stray)}")
        inner_states = [inner._checked_state({key[len(prefix):]: state_dict[key] for key in state_dict.keys()
                                              if key.startswith(prefix)})
                        for prefix, inner in zip(prefixes, self.schedulers, strict=True)]
        return super()._checked_state(own), inner_states

    def _restore(self, state):
        own_state, inner_states = state
        for inner, inner_state in zip(self.schedulers, inner_states, strict=True):
            inner._restore(inner_state)
        super()._restore(own_state)
