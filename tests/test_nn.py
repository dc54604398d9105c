"""nn.Module and the non-recurrent layers: registration, modes, state dicts, initialisers, gradients, errors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.nn as nn
from tinyattn import ShapeError


class Block(nn.Module):
    def __init__(self, rng=0):
        super().__init__()
        self.embed = nn.Embedding(10, 4, padding_idx=0, rng=rng)
        self.hidden = nn.Linear(4, 3, rng=rng)
        self.norm = nn.LayerNorm(3)
        self.layers = nn.ModuleList([nn.Linear(3, 3, rng=rng), nn.Linear(3, 2, bias=False, rng=rng)])

    def forward(self, ids):
        x = self.norm(self.hidden(self.embed(ids)))
        for layer in self.layers:
            x = layer(x)
        return x


# ----- registration and the tree ------------------------------------------------------------------------------------

def test_parameters_and_submodules_are_registered_by_attribute_in_order():
    names = [name for name, _ in Block().named_parameters()]
    assert names == ["embed.weight", "hidden.weight", "hidden.bias", "norm.weight", "norm.bias",
                     "layers.0.weight", "layers.0.bias", "layers.1.weight"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in Block().parameters())


def test_a_shared_parameter_is_listed_once():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(list(model.parameters())) == 3


def test_reassigning_an_attribute_replaces_its_registration():
    model = nn.Linear(2, 2)
    model.bias = None
    assert [name for name, _ in model.named_parameters()] == ["weight"]


def test_assigning_before_super_init_says_what_to_do():
    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgetful()


def test_repr_shows_the_tree_with_each_layer_configuration():
    text = repr(Block())
    assert "(embed): Embedding(10, 4, padding_idx=0)" in text
    assert "(layers): ModuleList(\n    (0): Linear(3, 3, bias=True)" in text


def test_train_and_eval_reach_every_module_and_dropout_follows_them():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5, rng=0))
    x = ta.tensor(np.ones((8, 4), np.float32))
    model.eval()
    assert all(not module.training for module in model.modules())
    np.testing.assert_array_equal(model[1](x).data, x.data)
    model.train()
    assert all(module.training for module in model.modules())
    assert np.any(model[1](x).data == 0)


def test_zero_grad_clears_every_gradient():
    model = Block()
    model(np.array([[1, 2]])).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# ----- state dicts ----------------------------------------------------------------------------------------------------

def test_state_dict_round_trip_restores_outputs_and_holds_copies():
    ids = np.array([[1, 2, 3]])
    source, target = Block(rng=1), Block(rng=2)
    state = source.state_dict()
    state["hidden.weight"][...] = 0.5  # a copy: the model is untouched
    assert not np.all(source.hidden.weight.data == 0.5)
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target(ids).data, source(ids).data)


def test_load_state_dict_strict_names_missing_unexpected_and_misshaped_keys_and_loads_nothing():
    model = Block()
    before = model.state_dict()
    state = dict(before)
    del state["norm.bias"]
    state["extra"] = np.zeros(2)
    state["hidden.weight"] = np.zeros((5, 3), np.float32)
    state["layers.0.bias"] = np.full(3, 9.0, np.float32)
    with pytest.raises(ShapeError) as caught:
        model.load_state_dict(state)
    message = str(caught.value)
    assert "missing keys: norm.bias" in message and "unexpected keys: extra" in message
    assert "hidden.weight: checkpoint (5, 3) vs model (4, 3)" in message
    np.testing.assert_array_equal(model.layers[0].bias.data, before["layers.0.bias"])


def test_load_state_dict_non_strict_loads_what_matches_and_reports_the_rest():
    model = nn.Linear(2, 3)
    result = model.load_state_dict({"weight": np.ones((2, 3)), "other": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(model.weight.data, np.ones((2, 3)))
    assert model.weight.dtype == np.float32  # cast to the parameter's dtype


def test_buffers_are_saved_and_loaded_but_not_trained():
    model = nn.Linear(2, 2)
    model.register_buffer("positions", np.arange(4.0))
    assert "positions" in model.state_dict() and "positions" not in dict(model.named_parameters())
    model.load_state_dict({**model.state_dict(), "positions": np.full(4, 7.0)})
    np.testing.assert_array_equal(model.positions, np.full(4, 7.0))


def test_astype_converts_every_parameter():
    model = Block().astype(np.float64)
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float64)}


# ----- layers ---------------------------------------------------------------------------------------------------------

@settings(max_examples=20)
@given(batch=S.shapes(min_dims=0, max_dims=2, max_side=3), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_gradients_match_finite_differences(batch, bias, seed):
    rng = np.random.default_rng(seed)
    layer = nn.Linear(3, 2, bias=bias, dtype=np.float64, rng=rng)
    x = ta.tensor(rng.standard_normal(batch + (3,)), requires_grad=True)
    assert ta.gradcheck(lambda x, *params: layer(x), x, *layer.parameters())
    np.testing.assert_allclose(layer(x).data, x.data @ layer.weight.data + (layer.bias.data if bias else 0))


def test_embedding_padding_row_starts_at_zero_and_gets_no_gradient():
    table = nn.Embedding(5, 3, padding_idx=-1, dtype=np.float64, rng=0)
    assert table.padding_idx == 4 and np.all(table.weight.data[4] == 0)
    ids = np.array([[4, 1, 1], [2, 4, 0]])
    out = table(ids)
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(table.weight.grad[4], 0.0)
    np.testing.assert_array_equal(table.weight.grad[1], 2.0)  # looked up twice: gradients add
    # Away from the padding row (whose gradient is zero by design, not by calculus) the gradient is exact.
    assert ta.gradcheck(lambda weight: table(np.array([[3, 1, 1], [2, 0, 0]])), table.weight)


def test_embedding_rejects_ids_outside_the_table_and_float_ids():
    table = nn.Embedding(5, 3)
    with pytest.raises(IndexError, match="embedding"):
        table(np.array([5]))
    with pytest.raises(TypeError, match="integer"):
        table(np.array([1.0]))


def test_layer_norm_layer_normalises_the_last_axis():
    layer = nn.LayerNorm(4, dtype=np.float64)
    x = ta.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)) * 5 + 3, requires_grad=True)
    out = layer(x).data
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=-1), 1, rtol=1e-4)
    assert ta.gradcheck(lambda x, w, b: layer(x), x, layer.weight, layer.bias)


def test_layers_name_the_expected_size_when_the_input_does_not_fit():
    with pytest.raises(ShapeError, match=r"Linear: expected input \(\.\.\., 3\), got shape \(2, 4\) float32"):
        nn.Linear(3, 2)(ta.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ShapeError, match="LayerNorm"):
        nn.LayerNorm(3)(ta.tensor(np.ones((2, 4), np.float32)))


def test_float32_layers_keep_float32_through_forward_and_backward():
    model = Block()
    out = model(np.array([[1, 2, 3]]))
    out.backward(np.ones(out.shape, np.float32))
    assert out.dtype == np.float32
    assert {p.grad.dtype for p in model.parameters()} == {np.dtype(np.float32)}


# ----- dropout --------------------------------------------------------------------------------------------------------

def test_dropout_with_the_same_seed_repeats_and_keeps_the_mean():
    x = ta.tensor(np.ones(200_000, np.float32))
    first, second = nn.Dropout(0.3, rng=7)(x).data, nn.Dropout(0.3, rng=7)(x).data
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.7)}
    # The mean of 200,000 scaled Bernoulli(0.7) draws has standard deviation sqrt(0.3/0.7/200000) ~ 1.5e-3;
    # a tolerance of 0.01 is over 6 sigma (false-failure rate below 1e-9), and the seed is fixed anyway.
    assert abs(first.mean() - 1.0) < 0.01


def test_dropout_probability_must_be_in_range():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        nn.Dropout(1.0)


# ----- initialisers and seeding ---------------------------------------------------------------------------------------

def test_manual_seed_makes_model_creation_repeat_bit_for_bit():
    ta.manual_seed(123)
    first = Block(rng=None).state_dict()
    ta.manual_seed(123)
    second = Block(rng=None).state_dict()
    assert all(np.array_equal(first[name], second[name]) for name in first)
    ta.manual_seed(124)
    third = Block(rng=None).state_dict()
    assert not np.array_equal(first["hidden.weight"], third["hidden.weight"])


@pytest.mark.parametrize("initialiser, expected_std", [
    (nn.init.xavier_uniform_, np.sqrt(2.0 / (300 + 200))),
    (nn.init.xavier_normal_, np.sqrt(2.0 / (300 + 200))),
    (nn.init.kaiming_uniform_, np.sqrt(2.0 / 300)),
    (nn.init.kaiming_normal_, np.sqrt(2.0 / 300)),
])
def test_initialisers_give_the_standard_deviation_of_their_formula(initialiser, expected_std):
    weight = initialiser(nn.Parameter(np.empty((300, 200), np.float32)), rng=0)
    assert weight.dtype == np.float32
    # 60,000 draws: the sample std is within 1% of the true one far beyond 5 sigma (~0.3% per sigma); seed fixed.
    np.testing.assert_allclose(weight.data.std(), expected_std, rtol=0.02)
    assert abs(weight.data.mean()) < 0.05 * expected_std * 10


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4)])
def test_orthogonal_initialiser_gives_orthonormal_rows_or_columns(shape):
    weight = nn.init.orthogonal_(nn.Parameter(np.empty(shape)), rng=0).data
    small = weight @ weight.T if shape[0] <= shape[1] else weight.T @ weight
    np.testing.assert_allclose(small, np.eye(min(shape)), atol=1e-12)
