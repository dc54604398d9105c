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


# ----- all-or-nothing loads, version bumps, dropout's generator -------------------------------------------------------

def _snapshot(model):
    return model.state_dict(), [parameter.version for parameter in model.parameters()]


def _assert_unchanged(model, snapshot):
    state, versions = snapshot
    for name, value in model.state_dict().items():
        assert value.dtype == state[name].dtype and value.tobytes() == state[name].tobytes(), name
    assert [parameter.version for parameter in model.parameters()] == versions


@pytest.mark.parametrize("bad_bias, words", [
    (np.array(["a", "b"]), ["bias", "<U1"]),
    (np.array([None, 1.0], dtype=object), ["bias", "object"]),
    (np.array([1.0 + 2.0j, 0.0]), ["bias", "complex128"]),
    (np.array([1e300, 0.0]), ["bias", "1e+300", "float32"]),
    ([[1.0], [1.0, 2.0]], ["bias", "list"]),
    (None, ["bias", "NoneType"]),
], ids=["strings", "objects", "complex", "overflow", "ragged-list", "none"])
def test_load_state_dict_refuses_a_bad_value_after_good_ones_and_writes_nothing(bad_bias, words):
    model = nn.Linear(2, 2, rng=0)
    before = _snapshot(model)
    with pytest.raises(ta.DTypeError) as caught:
        model.load_state_dict({"weight": model.weight.data + 1, "bias": bad_bias})
    for word in words:
        assert word in str(caught.value)
    _assert_unchanged(model, before)


def test_load_state_dict_names_every_bad_value_and_shape_in_one_error_and_writes_nothing():
    model = Block()
    before = _snapshot(model)
    state = model.state_dict()
    state["hidden.weight"] = np.full((4, 3), "x")
    state["layers.0.bias"] = np.zeros(5, np.float32)
    state["embed.weight"] = state["embed.weight"] + 1
    with pytest.raises(ShapeError) as caught:
        model.load_state_dict(state)
    message = str(caught.value)
    assert "layers.0.bias: checkpoint (5,) vs model (3,)" in message and "hidden.weight" in message
    _assert_unchanged(model, before)


def test_load_state_dict_takes_nan_and_inf_and_casts_to_each_parameters_dtype():
    model = nn.Linear(2, 1, rng=0)
    model.load_state_dict({"weight": np.array([[np.nan], [-np.inf]]), "bias": np.array([2], dtype=np.int64)})
    assert model.weight.dtype == np.float32 and model.bias.dtype == np.float32
    assert np.isnan(model.weight.data[0, 0]) and model.weight.data[1, 0] == -np.inf and model.bias.data[0] == 2.0


def test_load_state_dict_casts_buffers_to_their_dtype_and_refuses_a_fraction_for_an_integer_buffer():
    model = nn.Linear(2, 2, rng=0)
    model.register_buffer("positions", np.arange(4))
    before = _snapshot(model)
    with pytest.raises(ta.DTypeError, match=r"positions.*1\.5.*int64"):
        model.load_state_dict({**model.state_dict(), "weight": np.ones((2, 2)), "positions": np.full(4, 1.5)})
    _assert_unchanged(model, before)
    model.load_state_dict({**model.state_dict(), "positions": np.full(4, 3.0)})
    assert model.positions.dtype == np.arange(4).dtype and model.positions.tolist() == [3, 3, 3, 3]


def test_load_state_dict_marks_each_written_parameter_modified_so_an_older_graph_cannot_backpropagate():
    model = nn.Linear(2, 2, rng=0)
    loss = model(np.ones((1, 2), np.float32)).sum()
    versions = [parameter.version for parameter in model.parameters()]
    result = model.load_state_dict({"weight": np.zeros((2, 2))}, strict=False)
    assert result.missing_keys == ["bias"]
    assert [parameter.version for parameter in model.parameters()] == [versions[0] + 1, versions[1]]
    with pytest.raises(ta.GraphError, match="changed after"):
        loss.backward()


@pytest.mark.parametrize("initialiser", [
    lambda weight: nn.init.uniform_(weight, rng=0), lambda weight: nn.init.normal_(weight, rng=0),
    nn.init.zeros_, lambda weight: nn.init.xavier_uniform_(weight, rng=0),
    lambda weight: nn.init.kaiming_normal_(weight, rng=0), lambda weight: nn.init.orthogonal_(weight, rng=0),
], ids=["uniform", "normal", "zeros", "xavier-uniform", "kaiming-normal", "orthogonal"])
def test_initialisers_mark_the_tensor_modified_so_an_older_graph_cannot_backpropagate(initialiser):
    weight = nn.Parameter(np.ones((3, 2)))
    loss = (weight * weight).sum()
    assert initialiser(weight) is weight and weight.version == 1
    with pytest.raises(ta.GraphError, match="changed after"):
        loss.backward()


def test_dropout_layer_follows_manual_seed_at_call_time_as_f_dropout_does():
    layer, inputs = nn.Dropout(0.5), np.ones((4, 16), np.float32)  # built before any seed is set
    ta.manual_seed(7)
    first = layer(inputs).data
    ta.manual_seed(7)
    again = layer(inputs).data
    ta.manual_seed(7)
    functional = ta.functional.dropout(inputs, 0.5).data
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(functional, first)
    assert not np.array_equal(layer(inputs).data, first)  # the next call draws a new mask


def test_dropout_layer_with_an_int_seed_makes_its_generator_once():
    inputs = np.ones((4, 16), np.float32)
    layer, twin = nn.Dropout(0.5, rng=3), nn.Dropout(0.5, rng=3)
    first, second = layer(inputs).data, layer(inputs).data
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(twin(inputs).data, first)
    np.testing.assert_array_equal(twin(inputs).data, second)


# ----- constructor arguments: sizes are positive integers --------------------------------------------------------
@pytest.mark.parametrize(
    "make, error, fragments",
    [
        (lambda: nn.Linear(0, 3), ValueError, ["Linear", "in_features", "integer >= 1", "0"]),
        (lambda: nn.Linear(-1, 3), ValueError, ["Linear", "in_features", "-1"]),
        (lambda: nn.Linear(4, 0), ValueError, ["Linear", "out_features", "0"]),
        (lambda: nn.Linear(2.0, 3), TypeError, ["Linear", "in_features", "2.0", "float"]),
        (lambda: nn.Linear(True, 3), TypeError, ["Linear", "in_features", "True", "bool"]),
        (lambda: nn.Linear(4, "3"), TypeError, ["Linear", "out_features", "'3'", "str"]),
        (lambda: nn.Embedding(0, 4), ValueError, ["Embedding", "num_embeddings", "0"]),
        (lambda: nn.Embedding(10, -4), ValueError, ["Embedding", "embedding_dim", "-4"]),
        (lambda: nn.Embedding(10, 4.5), TypeError, ["Embedding", "embedding_dim", "4.5"]),
        (lambda: nn.Embedding(10, 4, padding_idx=10), ValueError, ["Embedding", "padding_idx", "[-10, 10)", "10"]),
        (lambda: nn.Embedding(10, 4, padding_idx=-11), ValueError, ["Embedding", "padding_idx", "-11"]),
        (lambda: nn.Embedding(10, 4, padding_idx=1.0), TypeError, ["Embedding", "padding_idx", "1.0", "float"]),
        (lambda: nn.Embedding(10, 4, padding_idx=True), TypeError, ["Embedding", "padding_idx", "bool"]),
        (lambda: nn.LayerNorm(0), ValueError, ["LayerNorm", "normalized_shape", "0"]),
        (lambda: nn.LayerNorm(3.7), TypeError, ["LayerNorm", "normalized_shape", "3.7"]),
    ],
)
def test_layer_constructors_refuse_sizes_that_are_not_positive_integers_naming_the_argument(make, error, fragments):
    S.assert_error_names(error, make, fragments)


def test_layer_constructors_accept_numpy_integer_sizes_and_store_python_ints():
    linear = nn.Linear(np.int64(4), np.int32(3), rng=0)
    embedding = nn.Embedding(np.int64(10), 4, padding_idx=np.int64(-1), rng=0)
    norm = nn.LayerNorm(np.int16(3))
    assert (linear.in_features, linear.out_features, embedding.num_embeddings, embedding.padding_idx,
            norm.normalized_shape) == (4, 3, 10, 9, 3)
    assert all(type(value) is int for value in (linear.in_features, embedding.padding_idx, norm.normalized_shape))
    assert linear.weight.shape == (4, 3) and embedding.weight.shape == (10, 4)
