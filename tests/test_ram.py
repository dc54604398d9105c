"""RecurrentAttentionModel: output shapes and dtypes for both policies and modes, where each part of the hybrid loss
sends its gradient (and where it must not), the loss against hand computation, gradient checks, seeds, learning to
look at the informative corner, and bad input.

Why the gradient checks do not difference the model's total loss as it stands: the hybrid loss is a surrogate with
stop-gradients. With the noise fixed by a seed, a draw l = mu + sigma * eps moves with the policy's mean, so finite
differences would follow paths the estimator leaves out on purpose (mean -> location -> glimpse network, and the
log-density of a reparameterised draw, which stays constant), and the paths from the state into the baseline and the
locator, which read it detached. So the model's gradients are compared with the finite differences of the
same surrogate with those quantities held fixed (``frozen_surrogate``). The model's own loss is differenced directly
only where nothing is detached (random locations, one glimpse).
"""
import numpy as np
import pytest

import tinyattn as ta
import tinyattn.functional as F
from tinyattn import DTypeError, ShapeError
from tinyattn.distributions import Normal
from tinyattn.engine import no_grad
from tinyattn.optim import Adam
from tinyattn.random import default_generator
from tinyattn.tensor import Tensor
from tinyattn.vision import RamOutput, RecurrentAttentionModel

CLASSES = 3
LOCATOR = {"locator.weight", "locator.bias"}
VALUE = {"value.output.weight", "value.output.bias"}


def small_model(policy="learned", glimpses=2, channels=1, dtype=np.float64, rng=0, **kwargs):
    return RecurrentAttentionModel(CLASSES, channels=channels, glimpse_size=2, scales=2, glimpses=glimpses,
                                   glimpse_hidden=4, location_hidden=4, hidden_size=4, policy=policy, dtype=dtype,
                                   rng=rng, **kwargs)


def images_of(shape, seed=1, dtype=np.float64):
    return np.random.default_rng(seed).uniform(size=shape).astype(dtype)


def reached(model):
    """Names of the parameters whose gradient is not None and not all zero."""
    return {name for name, parameter in model.named_parameters()
            if parameter.grad is not None and np.any(parameter.grad != 0)}


def classification_parameters(model):
    return {name for name, _ in model.named_parameters()} - LOCATOR - VALUE


def mixed_targets(logits):
    """Targets right on even rows and wrong on odd ones, so the reward holds both 1 and 0."""
    predicted = np.argmax(logits.data, axis=-1)
    wrong = (predicted + 1) % logits.shape[-1]
    return np.where(np.arange(len(predicted)) % 2 == 0, predicted, wrong)


# ----- shapes, modes, policies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, channels", [((3, 6, 6), 1), ((2, 2, 6, 7), 2)])
def test_output_shapes_for_grey_and_colour_images(shape, channels):
    model = small_model(channels=channels, glimpses=3)
    out = model(images_of(shape), rng=0)
    batch = shape[0]
    assert isinstance(out, RamOutput)
    assert out.logits.shape == (batch, CLASSES)
    assert isinstance(out.locations, np.ndarray) and out.locations.shape == (batch, 3, 2)
    assert np.all(np.abs(out.locations) <= 1.0)
    assert out.means.shape == (batch, 3, 2)
    assert out.log_prob.shape == (batch, 3)
    assert out.baselines.shape == (batch, 3)


def test_drawn_locations_are_clipped_into_the_image_but_log_prob_is_of_the_draw():
    """With sigma = 3 most draws fall outside [-1, 1]: the locations are clipped onto the border, and log pi is the
    density of the unclipped draw (so it is not the density of the clipped location)."""
    model = small_model(location_std=3.0)
    out = model(images_of((4, 6, 6)), rng=0)
    assert np.all(np.abs(out.locations) <= 1.0)
    assert np.any(np.abs(out.locations) == 1.0)
    of_clipped = Normal(out.means.data, 3.0).log_prob(out.locations).sum(axis=-1).data
    assert not np.allclose(out.log_prob.data, of_clipped)
    np.testing.assert_array_equal(out.locations, np.clip(out.draws, -1.0, 1.0))
    of_draws = Normal(out.means.data, 3.0).log_prob(out.draws).sum(axis=-1).data
    np.testing.assert_allclose(out.log_prob.data, of_draws, rtol=1e-12)


def test_images_of_another_dtype_than_the_model_are_a_dtype_error_naming_the_model():
    with pytest.raises(DTypeError, match=r"RecurrentAttentionModel: .*float32.*got images \(2, 6, 6\) float64"):
        small_model(dtype=np.float32)(images_of((2, 6, 6)), rng=0)


def test_log_prob_is_the_normal_density_of_the_locations_summed_over_coordinates():
    model = small_model(location_std=0.1)
    out = model(images_of((3, 6, 6)), rng=0)
    assert np.all(np.abs(out.locations) < 1.0)  # nothing clipped: the locations are the draws
    sigma = 0.1
    expected = (-((out.locations - out.means.data) / sigma) ** 2 / 2 - np.log(sigma) - np.log(2 * np.pi) / 2).sum(-1)
    np.testing.assert_allclose(out.log_prob.data, expected, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_random_policy_has_no_means_and_no_log_prob_and_no_reinforce_term(training):
    model = small_model(policy="random").train(training)
    out = model(images_of((3, 6, 6)), rng=0)
    assert out.means is None and out.log_prob is None
    assert out.locations.shape == (3, 2, 2) and np.all(np.abs(out.locations) <= 1.0)
    assert out.baselines.shape == (3, 2)
    total, parts = out.loss(np.array([0, 1, 2]))
    assert parts["reinforce"] is None
    np.testing.assert_allclose(total.data, parts["classification"].data + parts["baseline"].data, rtol=1e-12)


def test_eval_mode_looks_at_the_means_without_noise_and_draws_nothing():
    model = small_model().eval()
    images = images_of((3, 6, 6))
    state = default_generator().bit_generator.state
    first = model(images)  # no rng: nothing is drawn
    second = model(images)
    assert default_generator().bit_generator.state == state
    assert first.log_prob is None
    np.testing.assert_array_equal(first.locations, first.means.data)
    np.testing.assert_array_equal(first.locations, second.locations)
    np.testing.assert_array_equal(first.logits.data, second.logits.data)
    assert first.loss(np.array([0, 1, 2]))[1]["reinforce"] is None


def test_first_location_and_baseline_come_from_the_empty_state():
    """l_0 is chosen at h_0 = 0, before anything is seen: the same for every image (tanh of the locator's bias),
    and so is b_0 (the value network's bias)."""
    model = small_model().eval()
    out = model(images_of((3, 6, 6)))
    np.testing.assert_allclose(out.locations[:, 0], np.tanh(np.broadcast_to(model.locator.bias.data, (3, 2))))
    np.testing.assert_allclose(out.baselines.data[:, 0], np.full(3, model.value.output.bias.data[0]))
    assert not np.allclose(out.locations[0, 1], out.locations[1, 1])  # later ones depend on what was seen


# ----- where the gradients go ----------------------------------------------------------------------------------------
def run(part, policy="learned"):
    """Forward a fixed batch, backward one part of the loss; returns the model and the images Tensor."""
    model = small_model(policy=policy)
    images = ta.tensor(images_of((3, 6, 6)), requires_grad=True)
    out = model(images, rng=np.random.default_rng(0))
    targets = mixed_targets(out.logits)
    if part == "log_prob":
        out.log_prob.backward(np.random.default_rng(5).standard_normal(out.log_prob.shape))
    else:
        out.loss(targets)[1][part].backward()
    return model, images


def test_locations_are_plain_arrays_without_a_graph():
    out = small_model()(images_of((2, 6, 6)), rng=0)
    assert isinstance(out.locations, np.ndarray) and not isinstance(out.locations, Tensor)


@pytest.mark.parametrize("part", ["log_prob", "reinforce"])
def test_policy_gradient_reaches_only_the_locator(part):
    model, images = run(part)
    assert reached(model) == LOCATOR  # not the core, glimpse network, classifier, nor the (detached) baseline
    assert images.grad is None or not np.any(images.grad)


@pytest.mark.parametrize("policy", ["learned", "random"])
def test_classification_loss_reaches_everything_but_locator_and_value_networks(policy):
    model, images = run("classification", policy)
    assert reached(model) == classification_parameters(model)
    assert images.grad is not None and np.any(images.grad)


@pytest.mark.parametrize("policy", ["learned", "random"])
def test_baseline_regression_reaches_only_the_value_network(policy):
    model, images = run("baseline", policy)
    assert reached(model) == VALUE
    assert images.grad is None or not np.any(images.grad)


# ----- the loss -----------------------------------------------------------------------------------------------------
def test_reward_is_one_exactly_where_the_prediction_is_right():
    out = small_model()(images_of((4, 6, 6)), rng=0)
    targets = mixed_targets(out.logits)
    reward = out.reward(targets)
    np.testing.assert_array_equal(reward, [1.0, 0.0, 1.0, 0.0])
    assert reward.dtype == out.logits.dtype
    assert out.loss(targets)[1]["reward"] == 0.5


def test_loss_parts_match_hand_computation_and_sum_to_the_total():
    out = small_model(glimpses=3)(images_of((4, 6, 6)), rng=0)
    targets = mixed_targets(out.logits)
    total, parts = out.loss(targets)
    reward = np.array([1.0, 0.0, 1.0, 0.0])
    logits, baselines, log_prob = out.logits.data, out.baselines.data, out.log_prob.data
    log_softmax = logits - logits.max(-1, keepdims=True)
    log_softmax = log_softmax - np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    classification = -log_softmax[np.arange(4), targets].mean()
    policy = -np.sum((reward[:, None] - baselines) * log_prob) / 4  # -(sum_t (R - b_t) log pi_t) / B
    baseline = np.mean((baselines - reward[:, None]) ** 2)
    np.testing.assert_allclose(parts["classification"].data, classification, rtol=1e-12)
    np.testing.assert_allclose(parts["reinforce"].data, policy, rtol=1e-12)
    np.testing.assert_allclose(parts["baseline"].data, baseline, rtol=1e-12)
    np.testing.assert_allclose(total.data, classification + policy + baseline, rtol=1e-12)


# ----- gradient checks (float64) -------------------------------------------------------------------------------------
def frozen_surrogate(model, images, targets, locations, states, reward, baselines):
    """The hybrid loss with what the estimator treats as constant held fixed: the locations (hence the pixels each
    glimpse reads), the states the locator and value network read (h_{t-1}, (T, B, H)), R, and the baselines inside
    the REINFORCE term. A smooth function of the images and every parameter, so finite differences apply."""
    batch = locations.shape[0]
    hidden, log_probs, values = None, [], []
    for step in range(locations.shape[1]):
        mean = model.locator(states[step]).tanh()  # (B, 2)
        log_probs.append(Normal(mean, model.location_std).log_prob(locations[:, step]).sum(axis=-1))  # (B,)
        values.append(model.value(states[step]))  # (B,)
        hidden = model.core(model.glimpse_features(images, locations[:, step]), hidden)  # (B, H)
    classification = F.cross_entropy(model.classifier(hidden), targets)
    advantage = reward[:, None] - baselines  # (B, T), constants
    policy = -(F.stack(log_probs, axis=1) * advantage).sum() * (1.0 / batch)
    return classification + policy + F.mse_loss(F.stack(values, axis=1), reward[:, None])


def states_of(model, images, locations):
    """h_0 = 0, h_1, ..., h_{T-1} along the given locations: (T, B, H) plain arrays."""
    states = [np.zeros((locations.shape[0], model.hidden_size))]
    hidden = None
    with no_grad():
        for step in range(locations.shape[1] - 1):
            hidden = model.core(model.glimpse_features(images, locations[:, step]), hidden)
            states.append(hidden.data)
    return states


@pytest.mark.parametrize("shape, channels", [((3, 6, 6), 1), ((2, 2, 6, 6), 2)])
def test_model_gradients_are_finite_differences_of_the_surrogate_with_the_draws_fixed(shape, channels):
    """Model: 6x6 images, glimpse 2, 2 scales, 2 glimpses, hidden 4; float64. The seeds are fixed and the
    preconditions asserted: no draw is clipped (so the locations are the draws whose log-density is taken).
    Inside frozen_surrogate the locations, R and the detached states are constants, so neither the pixel rounding
    nor the argmax can flip under a perturbation; only a relu exactly at a kink could, and the fixed seed avoids
    that (a failure of this kind would show for one seed only: change the seed, not the tolerance)."""
    model = small_model(channels=channels, location_std=0.2)
    images = ta.tensor(images_of(shape), requires_grad=True)
    out = model(images, rng=np.random.default_rng(0))
    assert np.all(np.abs(out.locations) < 1.0)
    targets = mixed_targets(out.logits)
    total, _ = out.loss(targets)
    total.backward()
    expected = {name: parameter.grad.copy() for name, parameter in model.named_parameters()}
    expected["images"] = images.grad.copy()

    constants = (out.locations, states_of(model, images.data, out.locations), out.reward(targets),
                 out.baselines.data)
    model.zero_grad()
    images.grad = None
    surrogate = frozen_surrogate(model, images, targets, *constants)
    np.testing.assert_allclose(surrogate.data, total.data, rtol=1e-12)
    surrogate.backward()
    for name, parameter in [*model.named_parameters(), ("images", images)]:
        np.testing.assert_allclose(parameter.grad, expected[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert ta.gradcheck(lambda *_: frozen_surrogate(model, images, targets, *constants), images,
                        *model.parameters())


@pytest.mark.parametrize("shape, channels", [((3, 6, 6), 1), ((2, 2, 6, 6), 2)])
def test_total_loss_gradcheck_through_the_model_with_random_locations_and_one_glimpse(shape, channels):
    """Here the model's own loss is smooth: random locations do not depend on any input, and with one glimpse
    the baseline reads only h_0 = 0. Re-seeding the rng on every call fixes the draws; the top-two logit gap is
    asserted wide enough that no eps = 1e-6 perturbation flips the reward."""
    model = small_model(policy="random", glimpses=1, channels=channels)
    images = ta.tensor(images_of(shape), requires_grad=True)
    logits = model(images, rng=np.random.default_rng(0)).logits.data
    top_two = np.sort(logits, axis=-1)[:, -2:]
    assert np.all(top_two[:, 1] - top_two[:, 0] > 1e-4)
    targets = mixed_targets(model(images, rng=np.random.default_rng(0)).logits)
    assert ta.gradcheck(lambda *_: model(images, rng=np.random.default_rng(0)).loss(targets)[0], images,
                        *model.parameters())


# ----- seeds --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["learned", "random"])
def test_seeded_runs_repeat_bit_for_bit_and_another_seed_looks_elsewhere(policy):
    images = images_of((3, 6, 6))
    targets = np.array([0, 1, 2])
    runs = [small_model(policy=policy, rng=3)(images, rng=np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].locations, runs[1].locations)
    np.testing.assert_array_equal(runs[0].logits.data, runs[1].logits.data)
    np.testing.assert_array_equal(runs[0].loss(targets)[0].data, runs[1].loss(targets)[0].data)
    other = small_model(policy=policy, rng=3)(images, rng=np.random.default_rng(8))
    assert np.all(other.locations != runs[0].locations)


# ----- learning where to look ---------------------------------------------------------------------------------------
def corner_batch(rng, size):
    """8x8 uniform noise in [0, 0.5]; class 1 has 0.5 added to its top-left 4x4 quadrant."""
    labels = rng.integers(0, 2, size=size)
    images = rng.uniform(0.0, 0.5, size=(size, 8, 8)).astype(np.float32)
    images[labels == 1, :4, :4] += 0.5
    return images, labels


def train_on_corners(policy, steps=300):
    """Returns (held-out accuracy, first location before training, after training) in eval mode."""
    model = RecurrentAttentionModel(2, glimpse_size=2, scales=2, glimpses=1, hidden_size=16, glimpse_hidden=16,
                                    location_hidden=8, location_std=0.2, policy=policy, rng=0)
    optimizer = Adam(model.parameters(), lr=1e-2)
    data, draws = np.random.default_rng(1), np.random.default_rng(2)
    test_images, test_labels = corner_batch(np.random.default_rng(99), 512)
    before = model.eval()(test_images, rng=np.random.default_rng(5)).locations[:, 0].mean(axis=0)
    model.train()
    for _ in range(steps):
        images, labels = corner_batch(data, 64)
        optimizer.zero_grad()
        model(images, rng=draws).loss(labels)[0].backward()
        optimizer.step()
    out = model.eval()(test_images, rng=np.random.default_rng(5))
    accuracy = float(np.mean(np.argmax(out.logits.data, axis=-1) == test_labels))
    return accuracy, before, out.locations[:, 0].mean(axis=0)


def test_location_network_learns_to_look_at_the_informative_corner():
    """Fixed seeds, deterministic. Measured: the learned policy reaches held-out accuracy 1.0 and moves its first
    look from (-0.05, -0.15) to about (-0.32, -0.38) (with seeds 0-9 for model, data and draws, both coordinates
    always ended below -0.25); random looks reach 0.76. With the REINFORCE term dropped the accuracy stays high
    (the coarse scale at the centre reaches the quadrant) but the look does not move, and with its sign flipped the
    look goes to the bottom right: the location assertions are the ones that catch a broken policy gradient."""
    accuracy, before, after = train_on_corners("learned")
    random_accuracy, _, _ = train_on_corners("random")
    assert accuracy > 0.9
    assert np.all(after < -0.15), after
    corner = np.array([-1.0, -1.0])
    assert np.linalg.norm(after - corner) < np.linalg.norm(before - corner) - 0.1
    assert random_accuracy < accuracy - 0.1


# ----- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    ({"policy": "greedy"}, "policy"),
    ({"location_std": 0.0}, "location_std"),
    ({"location_std": -0.1}, "location_std"),
    ({"location_std": float("nan")}, "location_std"),
    ({"location_std": float("inf")}, "location_std"),
    ({"glimpses": 0}, "glimpses"),
    ({"glimpses": -1}, "glimpses"),
    ({"glimpses": 1.5}, "glimpses"),
    ({"glimpses": True}, "glimpses"),
])
def test_constructor_refuses_bad_arguments_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=f"RecurrentAttentionModel: {name}"):
        small_model(**kwargs)


def test_numpy_integer_glimpses_are_accepted_like_the_sensors_sizes():
    model = small_model(glimpses=np.int64(2))
    assert model(images_of((2, 6, 6)), rng=0).locations.shape == (2, 2, 2)


@pytest.mark.parametrize("images, error, words", [
    (np.ones((2, 6, 6), np.int64), DTypeError, ["RecurrentAttentionModel", "(2, 6, 6)", "int64"]),
    (np.ones((2, 6, 6), bool), DTypeError, ["RecurrentAttentionModel", "(2, 6, 6)", "bool"]),
    (np.ones((2, 6)), ShapeError, ["RecurrentAttentionModel", "(2, 6)", "float64"]),
    (np.ones((2, 1, 1, 6, 6)), ShapeError, ["RecurrentAttentionModel", "(2, 1, 1, 6, 6)"]),
    (np.ones((0, 6, 6)), ShapeError, ["glimpse", "(0, 6, 6)"]),
    (np.float64(1.0), ShapeError, ["RecurrentAttentionModel", "()"]),
], ids=["int", "bool", "2d", "5d", "empty batch", "scalar"])
def test_bad_images_raise_an_error_naming_the_model_or_sensor_shape_and_dtype(images, error, words):
    model = small_model()
    with pytest.raises(error) as caught:
        model(images, rng=0)
    for word in words:
        assert word in str(caught.value)


def test_images_with_the_wrong_channel_count_are_refused():
    with pytest.raises(ShapeError):
        small_model(channels=1)(images_of((2, 3, 6, 6)), rng=0)


# ----- float32 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", ["learned", "random"])
def test_float32_end_to_end(policy):
    model = small_model(policy=policy, dtype=np.float32)
    images = ta.tensor(images_of((3, 6, 6), dtype=np.float32), requires_grad=True)
    out = model(images, rng=0)
    assert out.logits.dtype == out.baselines.dtype == out.locations.dtype == np.float32
    if policy == "learned":
        assert out.means.dtype == out.log_prob.dtype == np.float32
    total, parts = out.loss(np.array([0, 1, 2]))
    assert total.dtype == parts["classification"].dtype == parts["baseline"].dtype == np.float32
    if policy == "learned":
        assert parts["reinforce"].dtype == np.float32
    total.backward()
    unused = LOCATOR if policy == "random" else set()  # random looks never consult the locator
    for name, parameter in [*model.named_parameters(), ("images", images)]:
        if name in unused:
            assert parameter.grad is None, name
            continue
        assert parameter.grad.dtype == np.float32, name
        assert np.all(np.isfinite(parameter.grad)), name
