"""Optimisers, clip_grad_norm_ and schedules: hand-computed steps, groups, dtypes, checkpoints, convergence, errors.

Gradients are set by hand (``param.grad = ...``) so that each expected value can be written out; only the
least-squares tests use the engine's backward.
"""
import io
import math

import numpy as np
import pytest

import tinyattn as ta
from tinyattn import DTypeError, ShapeError
from tinyattn.optim import (
    SGD,
    Adam,
    AdamW,
    CosineAnnealingLR,
    LinearWarmup,
    SequentialLR,
    StepLR,
    clip_grad_norm_,
)


def param(values, dtype=np.float64):
    return ta.tensor(np.array(values, dtype=dtype), requires_grad=True)


def run(optimizer, params, grads_per_step):
    """Set each parameter's grad and step, once per entry; return the parameter values after each step."""
    history = []
    for grads in grads_per_step:
        for p, grad in zip(params, grads, strict=True):
            p.grad = None if grad is None else np.array(grad, dtype=p.dtype)
        optimizer.step()
        history.append([p.data.copy() for p in params])
    return history


# ----- SGD by hand ----------------------------------------------------------------------------------------------------

def test_sgd_without_momentum_subtracts_lr_times_grad():
    p = param([1.0, -2.0])
    run(SGD([p], lr=0.1), [p], [[[0.5, 0.25]]])
    np.testing.assert_allclose(p.data, [0.95, -2.025], rtol=0, atol=1e-15)


def test_sgd_momentum_with_weight_decay_three_steps_by_hand():
    # lr 0.5, momentum 0.5, weight decay 0.25, grad [1, 0.5] every step, p0 = [2, -1] (all exact in binary):
    #   d1 = g + 0.25 p0 = [1.5, 0.25];        b1 = d1;                    p1 = p0 - 0.5 b1 = [1.25, -1.125]
    #   d2 = g + 0.25 p1 = [1.3125, 0.21875];  b2 = 0.5 b1 + d2 = [2.0625, 0.34375];  p2 = [0.21875, -1.296875]
    #   d3 = [1.0546875, 0.17578125];          b3 = [2.0859375, 0.34765625];           p3 = [-0.82421875, -1.470703125]
    p = param([2.0, -1.0])
    history = run(SGD([p], lr=0.5, momentum=0.5, weight_decay=0.25), [p], [[[1.0, 0.5]]] * 3)
    assert [h[0].tolist() for h in history] == [[1.25, -1.125], [0.21875, -1.296875], [-0.82421875, -1.470703125]]


def test_sgd_nesterov_steps_along_grad_plus_momentum_times_buffer():
    # lr 0.5, momentum 0.5, grad 1 every step, p0 = 2:
    #   b1 = 1,    step = 1 + 0.5 * 1    = 1.5,   p1 = 2 - 0.75     = 1.25
    #   b2 = 1.5,  step = 1 + 0.5 * 1.5  = 1.75,  p2 = 1.25 - 0.875 = 0.375
    #   b3 = 1.75, step = 1 + 0.5 * 1.75 = 1.875, p3 = 0.375 - 0.9375 = -0.5625
    # (plain momentum would give 1.5, 0.75, -0.125)
    p = param([2.0])
    history = run(SGD([p], lr=0.5, momentum=0.5, nesterov=True), [p], [[[1.0]]] * 3)
    assert [h[0].item() for h in history] == [1.25, 0.375, -0.5625]


def test_sgd_momentum_buffer_starts_at_the_first_gradient_undampened():
    # Dampening 0.5 applies from the second step on: b1 = g = 1, then b = 0.5 b + 0.5 g = 1, so p falls by 1 each step.
    # A buffer started at zero (or at (1 - dampening) g) would give steps of 0.5, 0.75, ...
    p = param([0.0])
    history = run(SGD([p], lr=1.0, momentum=0.5, dampening=0.5), [p], [[[1.0]]] * 3)
    assert [h[0].item() for h in history] == [-1.0, -2.0, -3.0]


# ----- Adam and AdamW by hand -----------------------------------------------------------------------------------------

def test_adam_first_step_moves_every_coordinate_by_lr_whatever_the_gradient_scale():
    # t = 1: m_hat = g and v_hat = g**2, so with eps = 0 the step is lr * g / |g| = lr * sign(g).
    p = param([1.0, 1.0, 1.0])
    run(Adam([p], lr=0.1, eps=0.0), [p], [[[1e-3, -50.0, 2.0]]])
    np.testing.assert_allclose(p.data, [0.9, 1.1, 0.9], rtol=1e-12)


def test_adam_two_steps_by_hand():
    lr, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-8
    g1, g2 = np.array([1.0, -0.5]), np.array([3.0, 0.25])
    p = param([0.5, 0.5])
    run(Adam([p], lr=lr, betas=(beta1, beta2), eps=eps), [p], [[g1], [g2]])
    m1, v1 = (1 - beta1) * g1, (1 - beta2) * g1 ** 2
    p1 = 0.5 - lr * (m1 / (1 - beta1)) / (np.sqrt(v1 / (1 - beta2)) + eps)
    m2, v2 = beta1 * m1 + (1 - beta1) * g2, beta2 * v1 + (1 - beta2) * g2 ** 2
    p2 = p1 - lr * (m2 / (1 - beta1 ** 2)) / (np.sqrt(v2 / (1 - beta2 ** 2)) + eps)
    np.testing.assert_allclose(p.data, p2, rtol=1e-13)
    # Written out for the first coordinate: m2 = 0.39, m_hat = 0.39 / 0.19; v2 = 0.009999, v_hat = 0.009999 / 0.001999.
    assert p.data[0] == pytest.approx(0.4 - 0.1 * (0.39 / 0.19) / math.sqrt(0.009999 / 0.001999), rel=1e-7)


def test_adamw_decays_the_weights_themselves_while_adam_adds_l2_to_the_gradient():
    # Zero gradient, lr 0.1, weight decay 0.5, p0 = [2, -4].
    # AdamW: p1 = p0 * (1 - 0.1 * 0.5) = [1.9, -3.8], then the Adam step on a zero gradient does nothing.
    # Adam:  g = 0.5 * p0 = [1, -2]; its first step moves each coordinate by lr: [1.9, -3.9].
    decoupled, coupled = param([2.0, -4.0]), param([2.0, -4.0])
    run(AdamW([decoupled], lr=0.1, weight_decay=0.5), [decoupled], [[[0.0, 0.0]]])
    run(Adam([coupled], lr=0.1, weight_decay=0.5), [coupled], [[[0.0, 0.0]]])
    np.testing.assert_allclose(decoupled.data, [1.9, -3.8], rtol=1e-15)
    np.testing.assert_allclose(coupled.data, [1.9, -3.9], rtol=1e-7)


def test_adamw_without_weight_decay_is_adam_bit_for_bit():
    rng = np.random.default_rng(1)
    grads = [[rng.standard_normal(5)] for _ in range(4)]
    a, b = param(np.ones(5)), param(np.ones(5))
    run(Adam([a], lr=0.01), [a], grads)
    run(AdamW([b], lr=0.01, weight_decay=0.0), [b], grads)
    np.testing.assert_array_equal(a.data, b.data)


def test_adamw_default_weight_decay_is_one_hundredth():
    assert AdamW([param([1.0])]).param_groups[0]["weight_decay"] == 1e-2
    assert Adam([param([1.0])]).param_groups[0]["weight_decay"] == 0


# ----- groups, skipped parameters, gradients --------------------------------------------------------------------------

def test_parameter_groups_use_their_own_hyperparameters_and_default_to_the_constructors():
    fast, slow = param([1.0]), param([1.0])
    optimizer = SGD([{"params": [fast]}, {"params": [slow], "lr": 0.01, "name": "slow"}], lr=0.5, momentum=0.0)
    assert optimizer.param_groups[0]["lr"] == 0.5 and optimizer.param_groups[1]["lr"] == 0.01
    assert optimizer.param_groups[1]["momentum"] == 0.0 and optimizer.param_groups[1]["name"] == "slow"
    run(optimizer, [fast, slow], [[[1.0], [1.0]]])
    assert (fast.item(), slow.item()) == (0.5, 0.99)


def test_a_parameter_without_grad_is_skipped_and_its_state_does_not_advance():
    used, unused = param([1.0]), param([3.0])
    optimizer = Adam([used, unused], lr=0.1, eps=0.0)
    run(optimizer, [used, unused], [[[1.0], None], [[1.0], None]])
    assert unused.item() == 3.0 and unused not in optimizer.state
    assert optimizer.state[used]["step"] == 2
    # Its first real update is Adam's first step (a move of exactly lr), not a continuation of the other's count.
    run(optimizer, [used, unused], [[None, [-7.0]]])
    assert unused.item() == pytest.approx(3.1, rel=1e-12) and optimizer.state[unused]["step"] == 1


def test_model_parameters_generator_is_accepted():
    model = ta.nn.Linear(3, 2)
    optimizer = SGD(model.parameters(), lr=0.1)
    assert len(optimizer.param_groups[0]["params"]) == 2


def test_zero_grad_sets_none_or_zero_fills_in_place():
    p = param([1.0, 2.0])
    optimizer = SGD([p], lr=0.1)
    p.grad = np.array([3.0, 4.0])
    grad = p.grad
    optimizer.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0]
    optimizer.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    lambda ps: Adam(ps, lr=0.1, weight_decay=0.1),
    lambda ps: AdamW(ps, lr=0.1, weight_decay=0.1),
], ids=["sgd", "adam", "adamw"])
def test_step_leaves_grad_untouched(make):
    p = param([1.0, -2.0])
    optimizer = make([p])
    for _ in range(2):
        grad = np.array([0.5, 0.25])
        p.grad = grad
        optimizer.step()
        assert p.grad is grad and grad.tolist() == [0.5, 0.25]


def test_step_returns_the_closures_loss():
    p = param([2.0])

    def closure():
        loss = (p * p).sum()
        loss.backward()
        return loss

    with ta.no_grad():
        loss = SGD([p], lr=0.25).step(closure)  # the closure records its graph even under no_grad
    assert loss.item() == 4.0 and p.item() == 1.0  # 2 - 0.25 * 4


# ----- steps change the version of what they update -----------------------------------------------------------------

MAKERS = {"sgd": lambda ps: SGD(ps, lr=0.1, momentum=0.9), "adam": lambda ps: Adam(ps, lr=0.1),
          "adamw": lambda ps: AdamW(ps, lr=0.1)}


@pytest.mark.parametrize("name", MAKERS)
def test_a_step_between_forward_and_backward_makes_backward_raise_naming_the_change(name):
    weight = param(np.ones((3, 2)))
    optimizer = MAKERS[name]([weight])
    inputs = np.arange(6.0).reshape(2, 3)
    (ta.tensor(inputs) @ weight).sum().backward()  # a gradient, so that the step below updates the weight
    loss = (ta.tensor(inputs) @ weight).sum()
    optimizer.step()
    with pytest.raises(ta.GraphError, match=r"changed after .*version 0 then, 1 now.*optimizer\.step\(\) goes after"):
        loss.backward()


@pytest.mark.parametrize("name", MAKERS)
def test_backward_then_step_trains_and_each_step_marks_only_the_updated_parameters(name):
    weight, frozen_out = param(np.ones((3, 2))), param([0.5])
    optimizer = MAKERS[name]([weight, frozen_out])
    inputs = np.arange(6.0).reshape(2, 3)
    for step in range(1, 4):
        optimizer.zero_grad()
        (ta.tensor(inputs) @ weight).sum().backward()  # frozen_out takes no part: its .grad stays None
        optimizer.step()
        assert (weight.version, frozen_out.version) == (step, 0)
    assert not np.array_equal(weight.data, np.ones((3, 2)))


# ----- dtype and in-place updates -------------------------------------------------------------------------------------

f32 = np.float32


def sgd_float32_reference(p, grads, lr, momentum, weight_decay):
    """Nesterov SGD with every constant a float32, in the order the optimiser computes it."""
    buffer = None
    for grad in grads:
        direction = grad + f32(weight_decay) * p
        buffer = direction.copy() if buffer is None else buffer * f32(momentum) + f32(1.0) * direction
        p = p - f32(lr) * (direction + f32(momentum) * buffer)
    return p


def adam_float32_reference(p, grads, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, grad in enumerate(grads, start=1):
        if decoupled:
            p = p * f32(1 - lr * weight_decay)
        else:
            grad = grad + f32(weight_decay) * p
        m = m * f32(beta1) + f32(1 - beta1) * grad
        v = v * f32(beta2) + f32(1 - beta2) * np.square(grad)
        denominator = np.sqrt(v) / f32(math.sqrt(1 - beta2 ** t)) + f32(eps)
        p = p - f32(lr / (1 - beta1 ** t)) * (m / denominator)
    return p


# Hyper-parameters given as NumPy float64 scalars: under NumPy 2 they would widen float32 arithmetic to float64
# (and round differently) unless the optimiser turns them into Python floats.
LR, MOMENTUM, DECAY, BETAS = np.float64(0.05), np.float64(0.9), np.float64(0.1), (np.float64(0.8), np.float64(0.99))
FLOAT32_CASES = {
    "sgd": (lambda ps: SGD(ps, lr=LR, momentum=MOMENTUM, nesterov=True, weight_decay=DECAY),
            lambda p, grads: sgd_float32_reference(p, grads, 0.05, 0.9, 0.1)),
    "adam": (lambda ps: Adam(ps, lr=LR, betas=BETAS, eps=np.float64(1e-3), weight_decay=DECAY),
             lambda p, grads: adam_float32_reference(p, grads, 0.05, (0.8, 0.99), 1e-3, 0.1, decoupled=False)),
    "adamw": (lambda ps: AdamW(ps, lr=LR, betas=BETAS, eps=np.float64(1e-3), weight_decay=DECAY),
              lambda p, grads: adam_float32_reference(p, grads, 0.05, (0.8, 0.99), 1e-3, 0.1, decoupled=True)),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_parameters_are_updated_in_float32_in_place(name):
    make, reference = FLOAT32_CASES[name]
    rng = np.random.default_rng(2)
    shapes = [(40, 25), ()]  # a 0-d parameter too: NumPy turns 0-d results into scalars
    params = [param(rng.standard_normal(shape), dtype=np.float32) for shape in shapes]
    initial = [p.data.copy() for p in params]
    arrays = [p.data for p in params]
    grads = [[rng.standard_normal(shape).astype(np.float32) for shape in shapes] for _ in range(3)]
    optimizer = make(params)
    run(optimizer, params, grads)
    for index, p in enumerate(params):
        assert p.data is arrays[index] and p.data.dtype == np.float32
        assert all(value.dtype == np.float32 for value in optimizer.state[p].values() if isinstance(value, np.ndarray))
        # Bit for bit: any float64 intermediate would round differently in many of the 1,000 elements.
        expected = reference(initial[index], [step[index] for step in grads])
        np.testing.assert_array_equal(p.data, expected)


def test_float32_survives_a_schedule_and_a_loaded_checkpoint():
    p = param(np.ones(4), dtype=np.float32)
    optimizer = Adam([p], lr=0.1)
    schedule = CosineAnnealingLR(optimizer, T_max=10)
    run(optimizer, [p], [[np.full(4, 0.5)]])
    schedule.step()
    buffer = io.BytesIO()
    np.savez(buffer, **optimizer.state_dict())
    buffer.seek(0)
    optimizer.load_state_dict(np.load(buffer, allow_pickle=False))
    assert type(optimizer.param_groups[0]["lr"]) is float and type(optimizer.state[p]["step"]) is int
    run(optimizer, [p], [[np.full(4, 0.5)]])
    assert p.data.dtype == np.float32 and optimizer.state[p]["exp_avg"].dtype == np.float32


# ----- checkpoints ----------------------------------------------------------------------------------------------------

def through_npz(state):
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as loaded:
        return {key: loaded[key] for key in loaded.files}


RESUMABLE = {
    "sgd": lambda groups: SGD(groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda groups: Adam(groups, lr=0.05, weight_decay=1e-3),
    "adamw": lambda groups: AdamW(groups, lr=0.05),
}


@pytest.mark.parametrize("name", RESUMABLE)
def test_training_resumed_from_an_npz_checkpoint_continues_bit_for_bit(name):
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (4,), ()]
    grads = [[rng.standard_normal(shape).astype(np.float32) for shape in shapes] for _ in range(7)]
    grads[1][2] = None  # the scalar parameter misses a step, so its state lags the others'

    def build(values):
        params = [param(value, dtype=np.float32) for value in values]
        optimizer = RESUMABLE[name]([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}])
        schedule = SequentialLR(optimizer, [LinearWarmup(optimizer, 2), CosineAnnealingLR(optimizer, 8)], [2])
        return params, optimizer, schedule

    def train(params, optimizer, schedule, steps):
        for step_grads in steps:
            run(optimizer, params, [step_grads])
            schedule.step()

    params, optimizer, schedule = build([rng.standard_normal(shape) for shape in shapes])
    train(params, optimizer, schedule, grads[:3])
    saved_params = [p.data.copy() for p in params]
    saved_optimizer, saved_schedule = through_npz(optimizer.state_dict()), through_npz(schedule.state_dict())
    train(params, optimizer, schedule, grads[3:])

    resumed, resumed_optimizer, resumed_schedule = build(saved_params)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed_schedule.load_state_dict(saved_schedule)
    train(resumed, resumed_optimizer, resumed_schedule, grads[3:])
    for original, copy in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(copy.data, original.data)
    assert resumed_schedule.get_last_lr() == schedule.get_last_lr()
    final, final_resumed = optimizer.state_dict(), resumed_optimizer.state_dict()
    assert final.keys() == final_resumed.keys()
    for key in final:
        np.testing.assert_array_equal(final_resumed[key], final[key], err_msg=key)


def test_state_dict_is_flat_numbers_and_array_copies_numbered_across_groups():
    a, b, c = param([1.0]), param([2.0, 3.0]), param([4.0])
    optimizer = Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    run(optimizer, [a, b, c], [[[1.0], None, [1.0]]])
    state = optimizer.state_dict()
    assert state["param_groups.1.lr"] == 0.5 and state["param_groups.0.betas"].tolist() == [0.9, 0.999]
    assert state["param_groups.0.params"].tolist() == [0, 1] and state["param_groups.1.params"].tolist() == [2]
    assert sorted(key for key in state if key.startswith("state.")) == [
        "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step",
        "state.2.exp_avg", "state.2.exp_avg_sq", "state.2.step"]
    assert state["state.2.step"] == 1
    saved = state["state.0.exp_avg"].copy()
    run(optimizer, [a, b, c], [[[5.0], None, None]])
    np.testing.assert_array_equal(state["state.0.exp_avg"], saved)  # a copy, not the live buffer


def test_state_dict_refuses_a_group_value_that_needs_pickling():
    optimizer = SGD([{"params": [param([1.0])], "tag": None}], lr=0.1)
    with pytest.raises(TypeError, match=r"param_groups\.0\.tag.*pickling"):
        optimizer.state_dict()


def trained_adam():
    p, q = param([1.0, 2.0]), param([3.0])
    optimizer = Adam([{"params": [p]}, {"params": [q], "lr": 0.2}], lr=0.1)
    run(optimizer, [p, q], [[[1.0, 1.0], [1.0]]])
    return optimizer


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("param_groups.1.lr"), r"missing param_groups\.1\.lr"),
    (lambda s: s.update({"param_groups.0.params": np.array([0, 1])}), r"param_groups\.0\.params holds 2 indices"),
    (lambda s: s.update({"state.0.exp_avg": np.zeros(3)}), r"state\.0\.exp_avg has shape \(3,\).*\(2,\)"),
    (lambda s: s.update({"state.1.momentum_buffer": np.zeros(1)}), r"state\.1 has .*another optimiser"),
    (lambda s: s.update({"state.7.step": 1}), r"state\.7 belongs to no parameter"),
    (lambda s: s.update({"state.0.step": 1.5}), r"state\.0\.step must be an integer"),
    (lambda s: s.update({"epoch": 3}), r"unexpected key 'epoch'"),
    (lambda s: s.update({"param_groups.2.lr": 0.1}), r"parameter groups \[0, 1, 2\].*has 2"),
    (lambda s: s.update({"param_groups.0.lr": -1.0}), r"learning rate must be finite and >= 0, got -1"),
    (lambda s: s.update({"param_groups.1.params": np.array([0])}), r"param_groups\.1\.params repeats an index"),
    (lambda s: s.update({"state.1.step": -1}), r"state\.1\.step must be an integer >= 0"),
    (lambda s: s.update({"state.0.exp_avg": np.array(["a", "b"])}), r"state\.0\.exp_avg: holds <U1"),
    (lambda s: s.update({"state.1.exp_avg_sq": np.array([1j])}), r"state\.1\.exp_avg_sq: holds complex128"),
    (lambda s: s.update({"state.1.exp_avg": [None]}), r"state\.1\.exp_avg: holds object"),
], ids=["missing-hyperparameter", "wrong-group-size", "misshaped-state", "other-optimiser", "stray-index",
        "fractional-step", "unknown-key", "extra-group", "bad-lr", "repeated-index", "negative-step", "strings",
        "complex", "object"])
def test_load_state_dict_names_what_does_not_fit_and_changes_nothing(change, message):
    optimizer = trained_adam()
    state = optimizer.state_dict()
    change(state)
    before = optimizer.state_dict()
    with pytest.raises((ValueError, ShapeError, DTypeError), match=message):
        optimizer.load_state_dict(state)
    after = optimizer.state_dict()
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_a_truncated_checkpoint_missing_state_entries_is_refused():
    optimizer = trained_adam()
    state = optimizer.state_dict()
    del state["state.1.exp_avg_sq"]
    with pytest.raises(ValueError, match=r"state\.1 has \['exp_avg', 'step'\]"):
        optimizer.load_state_dict(state)


# ----- clip_grad_norm_ ------------------------------------------------------------------------------------------------

def with_grads(*grads, dtype=np.float64):
    params = []
    for grad in grads:
        p = param(np.zeros(np.shape(grad)), dtype=dtype)
        p.grad = np.array(grad, dtype=dtype)
        params.append(p)
    return params


def test_clip_grad_norm_scales_all_gradients_together_and_returns_the_norm_before():
    params = with_grads([3.0, 4.0], [12.0])  # total 2-norm 13
    arrays = [p.grad for p in params]
    total = clip_grad_norm_(params, max_norm=6.5)
    assert type(total) is float and total == 13.0
    factor = 6.5 / (13.0 + 1e-6)
    assert [p.grad is array for p, array in zip(params, arrays, strict=True)] == [True, True]
    np.testing.assert_allclose(params[0].grad, [3.0 * factor, 4.0 * factor], rtol=1e-15)
    np.testing.assert_allclose(params[1].grad, [12.0 * factor], rtol=1e-15)


def test_clip_grad_norm_inf_norm_is_the_largest_absolute_entry():
    params = with_grads([1.0, -7.0], [3.0])
    assert clip_grad_norm_(params, max_norm=3.5, norm_type=math.inf) == 7.0
    factor = 3.5 / (7.0 + 1e-6)
    np.testing.assert_allclose(np.concatenate([p.grad for p in params]), [factor, -7 * factor, 3 * factor], rtol=1e-15)


def test_clip_grad_norm_one_norm_sums_absolute_values():
    assert clip_grad_norm_(with_grads([1.0, -2.0], [3.0]), max_norm=100.0, norm_type=1) == 6.0


def test_clip_grad_norm_under_the_max_leaves_gradients_bit_for_bit():
    params = with_grads([0.3, -0.4], [0.1])
    before = [p.grad.copy() for p in params]
    assert clip_grad_norm_(params, max_norm=1.0) == pytest.approx(math.sqrt(0.26), rel=1e-15)
    for p, grad in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.grad, grad)


def test_clip_grad_norm_skips_missing_grads_and_accepts_a_single_tensor():
    present, missing = with_grads([6.0, 8.0])[0], param([100.0])
    assert clip_grad_norm_([missing, present], max_norm=20.0) == 10.0
    assert clip_grad_norm_(present, max_norm=20.0) == 10.0
    assert clip_grad_norm_([missing], max_norm=1.0) == 0.0
    assert clip_grad_norm_(with_grads(np.zeros(0)), max_norm=1.0, norm_type=math.inf) == 0.0


def test_clip_grad_norm_inf_total_zeroes_the_finite_gradients():
    params = with_grads([np.inf, 1.0], [2.0])
    assert clip_grad_norm_(params, max_norm=1.0) == math.inf
    assert np.isnan(params[0].grad[0]) and params[0].grad[1] == 0.0 and params[1].grad[0] == 0.0


def test_clip_grad_norm_keeps_float32_and_does_not_overflow_on_huge_gradients():
    params = with_grads([3e20, 4e20], dtype=np.float32)  # the float32 sum of squares would overflow
    total = clip_grad_norm_(params, max_norm=1.0)
    assert total == pytest.approx(5e20, rel=1e-6)
    assert params[0].grad.dtype == np.float32
    np.testing.assert_allclose(params[0].grad, [0.6, 0.8], rtol=1e-6)


def test_clip_grad_norm_non_finite_total_raises_only_when_asked():
    params = with_grads([np.nan, 1.0])
    assert math.isnan(clip_grad_norm_(params, max_norm=0.5))
    assert params[0].grad[1] == 1.0  # a NaN total scales nothing
    with pytest.raises(FloatingPointError, match=r"2\.0-norm of 1 gradients is nan"):
        clip_grad_norm_(with_grads([np.nan, 1.0]), max_norm=1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(max_norm=-1.0), ValueError, "max_norm must be finite and >= 0, got -1"),
    (dict(max_norm=1.0, norm_type=0), ValueError, "norm_type must be > 0"),
    (dict(max_norm="1"), TypeError, "max_norm must be a real number"),
])
def test_clip_grad_norm_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        clip_grad_norm_(with_grads([1.0]), **kwargs)


# ----- schedules ------------------------------------------------------------------------------------------------------

def lr_sequence(optimizer, schedule, steps):
    """The lr of group 0 right after construction and after each of `steps` calls of step()."""
    sequence = [optimizer.param_groups[0]["lr"]]
    assert schedule.get_last_lr()[0] == sequence[0]
    for _ in range(steps):
        schedule.step()
        sequence.append(optimizer.param_groups[0]["lr"])
        assert schedule.get_last_lr()[0] == sequence[-1]
    return sequence


def test_step_lr_multiplies_by_gamma_every_step_size_steps():
    optimizer = SGD([param([0.0])], lr=1.0)
    sequence = lr_sequence(optimizer, StepLR(optimizer, step_size=3, gamma=0.5), 9)
    assert sequence == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_cosine_annealing_follows_its_closed_form_then_holds_eta_min():
    optimizer = SGD([param([0.0])], lr=0.5)
    sequence = lr_sequence(optimizer, CosineAnnealingLR(optimizer, T_max=8, eta_min=0.1), 12)
    expected = [0.1 + 0.4 * (1 + math.cos(math.pi * min(n, 8) / 8)) / 2 for n in range(13)]
    np.testing.assert_allclose(sequence, expected, rtol=0, atol=1e-15)
    assert sequence[0] == 0.5 and sequence[4] == pytest.approx(0.3, abs=1e-15)
    assert sequence[8:] == [pytest.approx(0.1, abs=1e-15)] * 5


def test_linear_warmup_ramps_from_start_factor_to_the_lr_then_holds():
    optimizer = SGD([param([0.0])], lr=2.0)
    sequence = lr_sequence(optimizer, LinearWarmup(optimizer, warmup_steps=4, start_factor=0.25), 6)
    np.testing.assert_allclose(sequence, [0.5, 0.875, 1.25, 1.625, 2.0, 2.0, 2.0], rtol=1e-15)
    optimizer = SGD([param([0.0])], lr=1.0)
    assert lr_sequence(optimizer, LinearWarmup(optimizer, warmup_steps=2, start_factor=0), 3) == [0, 0.5, 1, 1]


def test_sequential_lr_warms_up_then_anneals_from_the_milestone():
    optimizer = SGD([param([0.0])], lr=1.0)
    schedule = SequentialLR(optimizer, [LinearWarmup(optimizer, 2, start_factor=0.5),
                                        CosineAnnealingLR(optimizer, T_max=4)], milestones=[2])
    expected = [0.5, 0.75] + [(1 + math.cos(math.pi * n / 4)) / 2 for n in range(5)] + [0.0]
    np.testing.assert_allclose(lr_sequence(optimizer, schedule, 7), expected, rtol=0, atol=1e-15)


def test_a_schedule_sets_each_groups_lr_from_its_own_initial_lr():
    optimizer = SGD([{"params": [param([0.0])]}, {"params": [param([0.0])], "lr": 0.1}], lr=1.0)
    schedule = StepLR(optimizer, step_size=1, gamma=0.5)
    schedule.step()
    assert schedule.get_last_lr() == [0.5, 0.05]
    assert [group["initial_lr"] for group in optimizer.param_groups] == [1.0, 0.1]


def test_the_optimiser_steps_with_the_scheduled_lr():
    p = param([0.0])
    optimizer = SGD([p], lr=1.0)
    schedule = StepLR(optimizer, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = np.array([1.0])
        optimizer.step()
        schedule.step()
    assert p.item() == -1.75  # 1 + 0.5 + 0.25


SCHEDULES = {
    "step": lambda o: StepLR(o, step_size=2, gamma=0.7),
    "cosine": lambda o: CosineAnnealingLR(o, T_max=9, eta_min=0.01),
    "warmup": lambda o: LinearWarmup(o, warmup_steps=5, start_factor=0.1),
    "sequential": lambda o: SequentialLR(o, [LinearWarmup(o, 3), StepLR(o, 2, 0.5), CosineAnnealingLR(o, 5)], [3, 7]),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_a_schedule_restored_from_its_npz_state_continues_the_same_sequence(name):
    optimizer = SGD([param([0.0])], lr=0.3)
    schedule = SCHEDULES[name](optimizer)
    for _ in range(6):
        schedule.step()
    saved = through_npz(schedule.state_dict())
    expected = lr_sequence(optimizer, schedule, 8)

    fresh_optimizer = SGD([param([0.0])], lr=0.3)
    fresh = SCHEDULES[name](fresh_optimizer)
    fresh.load_state_dict(saved)
    assert fresh.last_epoch == 6
    assert lr_sequence(fresh_optimizer, fresh, 8) == expected


def test_loading_a_schedule_state_restores_its_arguments_as_torch_does():
    optimizer = SGD([param([0.0])], lr=1.0)
    schedule = StepLR(optimizer, step_size=5, gamma=0.5)
    schedule.load_state_dict({"last_epoch": 4, "step_size": 2, "gamma": 0.1})
    assert (schedule.step_size, schedule.gamma) == (2, 0.1)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01, rel=1e-15)


@pytest.mark.parametrize("state, message", [
    ({"last_epoch": 4}, r"missing \['gamma', 'step_size'\]"),
    ({"last_epoch": 4, "step_size": 2, "gamma": 0.1, "base_lrs": 1.0}, r"unexpected \['base_lrs'\]"),
    ({"last_epoch": -2, "step_size": 2, "gamma": 0.1}, "last_epoch must be an integer >= 0"),
    ({"last_epoch": 1, "step_size": 0, "gamma": 0.1}, "step_size must be a positive integer"),
])
def test_loading_a_bad_schedule_state_says_what_is_wrong(state, message):
    optimizer = SGD([param([0.0])], lr=1.0)
    with pytest.raises(ValueError, match=message):
        StepLR(optimizer, step_size=5).load_state_dict(state)


def test_sequential_lr_refuses_stray_inner_state():
    optimizer = SGD([param([0.0])], lr=1.0)
    schedule = SequentialLR(optimizer, [LinearWarmup(optimizer, 2), StepLR(optimizer, 2)], [2])
    state = schedule.state_dict()
    state["schedulers.2.last_epoch"] = 0
    with pytest.raises(ValueError, match=r"unexpected \['schedulers\.2\.last_epoch'\]"):
        schedule.load_state_dict(state)


def test_a_schedule_state_with_one_bad_argument_changes_nothing():
    optimizer = SGD([param([0.0])], lr=1.0)
    schedule = StepLR(optimizer, step_size=5, gamma=0.5)
    schedule.step()
    with pytest.raises(ValueError, match="gamma must be finite and >= 0"):
        schedule.load_state_dict({"last_epoch": 12, "step_size": 2, "gamma": -1.0})  # step_size is checked first
    assert (schedule.last_epoch, schedule.step_size, schedule.gamma) == (1, 5, 0.5)
    assert optimizer.param_groups[0]["lr"] == 1.0


def test_a_sequential_schedule_state_with_bad_milestones_leaves_the_inner_schedules_as_they_were():
    optimizer = SGD([param([0.0])], lr=1.0)
    warmup, decay = LinearWarmup(optimizer, 2), StepLR(optimizer, 2)
    schedule = SequentialLR(optimizer, [warmup, decay], [2])
    state = schedule.state_dict()
    state.update({"schedulers.0.warmup_steps": 9, "schedulers.1.step_size": 7, "milestones": np.array([0])})
    before = [inner.state_dict() for inner in (warmup, decay, schedule)]
    with pytest.raises(ValueError, match=r"milestones\[0\] must be a positive integer"):
        schedule.load_state_dict(state)
    assert [inner.state_dict() for inner in (warmup, decay, schedule)] == before
    assert optimizer.param_groups[0]["lr"] == schedule.get_last_lr()[0]


@pytest.mark.parametrize("make, error, message", [
    (lambda o: StepLR(o, step_size=0), ValueError, "StepLR: step_size must be a positive integer, got 0"),
    (lambda o: StepLR(o, step_size=2.5), ValueError, "step_size must be a positive integer, got 2.5"),
    (lambda o: StepLR(o, step_size=2, gamma=-0.5), ValueError, "gamma must be finite and >= 0"),
    (lambda o: CosineAnnealingLR(o, T_max=-3), ValueError, "T_max must be a positive integer"),
    (lambda o: CosineAnnealingLR(o, T_max=3, eta_min=-1.0), ValueError, "eta_min must be finite and >= 0"),
    (lambda o: LinearWarmup(o, warmup_steps=0), ValueError, "warmup_steps must be a positive integer"),
    (lambda o: LinearWarmup(o, 3, start_factor=1.5), ValueError, r"start_factor must be in \[0, 1\], got 1.5"),
    (lambda o: SequentialLR(o, [LinearWarmup(o, 2), StepLR(o, 2)], []), ValueError, "2 schedules need 1 milestones"),
    (lambda o: SequentialLR(o, [LinearWarmup(o, 2), StepLR(o, 2), StepLR(o, 3)], [4, 4]), ValueError,
     "milestones must increase"),
    (lambda o: SequentialLR(o, [StepLR(SGD([param([0.0])], lr=1.0), 2)], []), ValueError,
     "every schedule must belong to the optimizer"),
    (lambda o: SequentialLR(o, [], []), TypeError, "non-empty list of schedules"),
    (lambda o: StepLR([o], step_size=2), TypeError, "StepLR: expected an Optimizer, got list"),
], ids=["step-size-0", "step-size-float", "gamma", "t-max", "eta-min", "warmup-steps", "start-factor",
        "milestone-count", "milestone-order", "foreign-schedule", "no-schedules", "not-an-optimizer"])
def test_schedule_bad_arguments(make, error, message):
    optimizer = SGD([param([0.0])], lr=1.0)
    with pytest.raises(error, match=message):
        make(optimizer)


# ----- convergence on least squares -----------------------------------------------------------------------------------

def least_squares(optimizer_for, steps, schedule_for=None):
    """Minimise mean((A x - b)**2) / 2 from x = 0, with b = A x_true (a well-conditioned, fixed A)."""
    design = np.random.default_rng(0).standard_normal((20, 3))  # singular values of A^T A / 20 in [0.49, 1.35]
    solution = np.array([1.0, -2.0, 0.5])
    targets = design @ solution
    x = param(np.zeros(3))
    optimizer = optimizer_for([x])
    schedule = schedule_for(optimizer) if schedule_for else None
    for _ in range(steps):
        optimizer.zero_grad()
        residual = ta.tensor(design) @ x - ta.tensor(targets)
        ((residual * residual).mean() * 0.5).backward()
        optimizer.step()
        if schedule:
            schedule.step()
    return x.data, solution


def test_sgd_with_momentum_solves_least_squares():
    found, solution = least_squares(lambda ps: SGD(ps, lr=0.5, momentum=0.5), steps=200)
    np.testing.assert_allclose(found, solution, rtol=0, atol=1e-10)


def test_adam_with_cosine_decay_solves_least_squares():
    # Adam at a constant lr keeps moving by about lr near the optimum; annealing the lr to 0 lets it settle.
    found, solution = least_squares(lambda ps: Adam(ps, lr=0.1), steps=500,
                                    schedule_for=lambda o: CosineAnnealingLR(o, T_max=500))
    np.testing.assert_allclose(found, solution, rtol=0, atol=1e-8)


# ----- bad arguments --------------------------------------------------------------------------------------------------

def frozen():
    return ta.tensor([1.0])


def computed():
    return param([1.0]) * 2.0


shared = param([1.0])


@pytest.mark.parametrize("make, error, message", [
    (lambda: SGD([], lr=0.1), ValueError, "SGD: got an empty parameter list"),
    (lambda: SGD([frozen()], lr=0.1), ValueError, r"parameter 0 of group 0 \(shape \(1,\), float64\) does not require"),
    (lambda: SGD([computed()], lr=0.1), ValueError, "was computed by 'mul'; only leaf tensors"),
    (lambda: SGD([{"params": [shared]}, {"params": [shared]}], lr=0.1), ValueError,
     "parameter 0 of group 1 .* appears more than once"),
    (lambda: SGD([shared, shared], lr=0.1), ValueError, "parameter 1 of group 0 .* appears more than once"),
    (lambda: SGD(param([1.0]), lr=0.1), TypeError, "not a single Tensor; wrap it in a list"),
    (lambda: SGD({param([1.0])}, lr=0.1), TypeError, "not a set"),
    (lambda: SGD([np.zeros(2)], lr=0.1), TypeError, "parameter 0 of group 0 is a ndarray, not a Tensor"),
    (lambda: SGD([{"params": [param([1.0])]}, param([1.0])], lr=0.1), TypeError, "group 1 must be a dict"),
    (lambda: SGD([param([1.0])], lr=-0.1), ValueError, r"SGD \(parameter group 0\): learning rate must be .* got -0.1"),
    (lambda: SGD([param([1.0])], lr=float("nan")), ValueError, "learning rate must be finite and >= 0, got nan"),
    (lambda: SGD([{"params": [param([1.0])], "lr": -1}], lr=0.1), ValueError, "learning rate must be"),
    (lambda: SGD([param([1.0])], lr=0.1, momentum=-0.9), ValueError, "momentum must be finite and >= 0"),
    (lambda: SGD([param([1.0])], lr=0.1, nesterov=True), ValueError, "nesterov momentum needs momentum > 0"),
    (lambda: SGD([param([1.0])], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "needs momentum > 0 and dampening = 0, got momentum=0.9, dampening=0.1"),
    (lambda: Adam([param([1.0])], lr=-1e-3), ValueError, r"Adam \(parameter group 0\): learning rate"),
    (lambda: Adam([param([1.0])], betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\), got 1.0"),
    (lambda: Adam([param([1.0])], betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in \[0, 1\), got -0.1"),
    (lambda: AdamW([param([1.0])], betas=0.9), ValueError, r"AdamW \(parameter group 0\): betas must be a pair"),
    (lambda: Adam([param([1.0])], eps=-1e-8), ValueError, "eps must be finite and >= 0"),
    (lambda: AdamW([param([1.0])], weight_decay=-0.01), ValueError, "weight_decay must be finite and >= 0"),
    (lambda: Adam([param([1.0])], lr="0.1"), TypeError, "learning rate must be a real number, got '0.1'"),
], ids=["empty", "no-grad", "non-leaf", "two-groups", "twice-in-group", "single-tensor", "set", "ndarray",
        "mixed-groups", "negative-lr", "nan-lr", "group-lr", "momentum", "nesterov-no-momentum",
        "nesterov-dampening", "adam-lr", "beta1", "beta2", "betas-not-pair", "eps", "adamw-decay", "string-lr"])
def test_optimizer_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_gradient_of_the_wrong_shape_or_dtype_is_refused_at_step():
    p = param([1.0, 2.0])
    optimizer = SGD([p], lr=0.1)
    p.grad = np.ones(1)  # would broadcast silently
    with pytest.raises(ShapeError, match=r"parameter of shape \(2,\) has a .grad of shape \(1,\)"):
        optimizer.step()
    p.grad = np.ones(2, dtype=np.float32)
    with pytest.raises(DTypeError, match="float64 parameter of shape .* has a float32 .grad"):
        optimizer.step()
    assert p.data.tolist() == [1.0, 2.0]
