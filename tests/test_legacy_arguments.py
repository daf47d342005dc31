"""Keras 1 argument names as data (gpuseq.legacy): every rename of every layer's table
converts to the Keras 2 call and warns with it; conflicting, unknown and invalid
arguments are refused clearly and change nothing."""
import inspect
import warnings

import pytest

import gpuseq.backend as K
from gpuseq import layers
from gpuseq.legacy import Keras1Arguments, keras1_arguments

# one minimal Keras 2 call per layer class, and a sample value per Keras 2 argument
BASE = {
    "Dense": {"units": 3}, "Dropout": {"rate": 0.5}, "SpatialDropout2D": {"rate": 0.5},
    "Embedding": {"input_dim": 10, "output_dim": 4}, "BatchNormalization": {},
    "SimpleRNN": {"units": 3}, "LSTM": {"units": 3}, "GRU": {"units": 3},
    "Conv1D": {"filters": 2, "kernel_size": 3}, "Conv2D": {"filters": 2, "kernel_size": 3},
    "MaxPooling1D": {}, "MaxPooling2D": {}, "AveragePooling2D": {},
    "GlobalAveragePooling1D": {}, "GlobalMaxPooling2D": {},
    "ZeroPadding2D": {}, "Cropping2D": {}, "UpSampling2D": {}, "UpSampling1D": {},
    "GaussianNoise": {"stddev": 0.1}, "GaussianDropout": {"rate": 0.2}, "PReLU": {},
    "Conv2DTranspose": {"filters": 2, "kernel_size": 3},
    "SeparableConv2D": {"filters": 2, "kernel_size": 3},
}
OLD_VALUES = {
    "output_dim": 5, "init": "he_normal", "W_regularizer": "l2", "b_regularizer": "l1",
    "U_regularizer": "l2", "W_constraint": "non_neg", "b_constraint": "non_neg",
    "U_constraint": "non_neg", "bias": False, "p": 0.25, "beta_init": "ones",
    "gamma_init": "zeros", "inner_activation": "hard_sigmoid", "inner_init": "identity",
    "dropout_W": 0.2, "dropout_U": 0.1, "consume_less": "mem", "forget_bias_init": "zero",
    "nb_filter": 5, "filter_length": 2, "subsample": 2, "subsample_length": 2,
    "border_mode": "same", "dim_ordering": "th", "atrous_rate": 2, "pool_length": 3,
    "stride": 1, "length": 3, "sigma": 0.3,
}
# the Keras 2 value of each converted one
NEW_VALUES = {"consume_less": 1, "forget_bias_init": False, "dim_ordering": "channels_first"}

CASES = [(name, old, new) for name in BASE
         for old, new in getattr(layers, name).keras1_arguments.renames.items()
         if not (name in ("Dense", "SimpleRNN", "LSTM", "GRU", "Conv1D", "Conv2D")
                 and new in BASE[name]) or old in ("output_dim", "nb_filter", "filter_length")]


def _config(layer):
    cfg = layer.get_config()
    cfg.pop("name")
    return cfg


def _keras2_base(name, new):
    base = dict(BASE[name])
    base.pop(new, None)
    return base


def _new_value(old, new):
    return NEW_VALUES.get(old, OLD_VALUES[old])


@pytest.mark.parametrize("name,old,new", CASES)
def test_each_rename_converts_and_warns_with_the_modern_call(name, old, new):
    if name == "SimpleRNN" and new in ("recurrent_activation", "unit_forget_bias"):
        pytest.skip("SimpleRNN has no such argument (refused below)")
    if name == "GRU" and new == "unit_forget_bias":
        pytest.skip("GRU has no forget gate (refused below)")
    cls = getattr(layers, name)
    base = _keras2_base(name, new)
    K.set_image_data_format("channels_last")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_layer = cls(**base, **{old: OLD_VALUES[old]})
    keras2 = dict(base, **{new: _new_value(old, new)})
    if name == "GRU":
        keras2["reset_after"] = False         # the Keras 1 GRU layout
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new_layer = cls(**keras2)
    assert _config(old_layer) == _config(new_layer)
    notes = [str(w.message) for w in caught if "Update your" in str(w.message)]
    assert len(notes) == 1, [str(w.message) for w in caught]
    assert notes[0].startswith(f"Update your `{name}` call to the Keras 2 API: `{name}(")
    assert caught[0].filename == __file__
    value = _new_value(old, new)
    if new in cls.keras1_arguments.positional:
        assert f"{name}({value}" in notes[0]
    else:
        shown = f'{new}="{value}"' if isinstance(value, str) else f"{new}={value!r}"
        assert shown in notes[0]


@pytest.mark.parametrize("call,match", [
    (lambda: layers.Dense(64, output_dim=10), "`output_dim` and its Keras 2 name `units`"),
    (lambda: layers.Dense(units=64, output_dim=10), "Pass only `units`"),
    (lambda: layers.Dense(3, init="uniform", kernel_initializer="ones"), "kernel_initializer"),
    (lambda: layers.LSTM(8, inner_activation="sigmoid", recurrent_activation="tanh"),
     "`inner_activation` and its Keras 2 name `recurrent_activation`"),
    (lambda: layers.MaxPooling1D(2, pool_length=3), "`pool_length`"),
    (lambda: layers.MaxPooling1D(stride=1, strides=2), "`stride`"),
    (lambda: layers.Conv1D(4, 3, subsample=2, subsample_length=2),
     "both `subsample` and `subsample_length`, two Keras 1 names"),
    (lambda: layers.Conv2D(4, (3, 3), nb_row=3, nb_col=3), "kernel_size"),
    (lambda: layers.Dropout(0.5, p=0.2), "`p` and its Keras 2 name `rate`"),
])
def test_old_and_new_names_together_are_refused(call, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # refused before any warning
        with pytest.raises(TypeError, match=match):
            call()


def test_a_refused_call_changes_nothing():
    K.set_image_data_format("channels_last")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="strides"):
            layers.Conv2D(8, 3, 3, subsample=(1, 1), strides=1, input_shape=(3, 32, 32))
    assert K.image_data_format() == "channels_last"


@pytest.mark.parametrize("call,error,match", [
    (lambda: layers.Dense(3, fooo=1), TypeError, r"unexpected keyword argument\(s\) \['fooo'\]"),
    (lambda: layers.MaxPooling2D(pool_length=2), TypeError, "pool_length"),
    (lambda: layers.Dense(3, nb_filter=2), TypeError, "nb_filter"),
    (lambda: layers.MaxPooling2D(dim_ordering="xy"), ValueError,
     r"`dim_ordering` \(Keras 2: `data_format`\): expected one of 'tf', 'th', 'default'"),
    (lambda: layers.LSTM(4, consume_less="fast"), ValueError,
     "expected one of 'cpu', 'mem', 'gpu'. Received: consume_less='fast'"),
    (lambda: layers.BatchNormalization(mode=2), TypeError, "mode=1 and mode=2"),
    (lambda: layers.SimpleRNN(4, inner_activation="sigmoid"), TypeError,
     "SimpleRNN has no `recurrent_activation`"),
    (lambda: layers.GRU(4, forget_bias_init="one"), TypeError, "no `unit_forget_bias`"),
])
def test_unknown_and_invalid_arguments_are_refused(call, error, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            call()


def test_removed_arguments_and_implied_defaults():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bn = layers.BatchNormalization(mode=0)
        emb = layers.Embedding(5, 2, dropout=0.3)
    assert bn.get_config() and emb.output_dim == 2
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "`dropout` argument is no longer supported" in messages[0]
    assert caught[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert layers.GRU(output_dim=3).reset_after is False
        assert layers.GRU(3, init="uniform", reset_after=True).reset_after is True
    assert layers.GRU(3).reset_after is True


def test_keras1_positional_kernel_and_message():
    K.set_image_data_format("channels_last")
    with pytest.warns(UserWarning) as rec:
        conv = layers.Convolution2D(8, 3, 2, border_mode="same", input_shape=(9, 9, 1))
    assert conv.kernel_size == (3, 2)
    assert str(rec[0].message) == ("Update your `Conv2D` call to the Keras 2 API: `Conv2D(8, "
                                   '(3, 2), padding="same", input_shape=(9, 9, 1))`')
    assert rec[0].filename == __file__


def test_keras1_channels_first_guess_warns_at_the_users_line():
    K.set_image_data_format("channels_last")
    try:
        with pytest.warns(UserWarning) as rec:
            layers.Convolution2D(4, 3, 3, input_shape=(3, 16, 16))
        assert "'th' order" in str(rec[0].message) and rec[0].filename == __file__
        assert K.image_data_format() == "channels_first"
    finally:
        K.set_image_data_format("channels_last")


def test_init_signatures_hold_only_keras2_arguments():
    for name in BASE:
        cls = getattr(layers, name)
        params = set(inspect.signature(cls.__init__).parameters)
        old_names = set(cls.keras1_arguments.renames) | set(cls.keras1_arguments.removed)
        assert not params & old_names, (name, params & old_names)


def test_table_and_decorator_refuse_misuse():
    with pytest.raises(ValueError, match="not renamed"):
        Keras1Arguments(renames={"a": "b"}, values={"c": {}})
    with pytest.raises(TypeError, match="Keras1Arguments"):
        keras1_arguments({"a": "b"})


def test_a_decorated_custom_layer():
    table = Keras1Arguments(renames={"size": "units"}, positional=("units",))

    @keras1_arguments(table)
    class Custom(layers.Layer):
        def __init__(self, units=1, **kwargs):
            super().__init__(**kwargs)
            self.units = units

    with pytest.warns(UserWarning, match=r"`Custom\(7\)`"):
        assert Custom(size=7).units == 7
    assert Custom.keras1_arguments is table


def test_a_subclass_passing_defaults_on_still_converts():
    """SpatialDropout1D(p=...) reaches Dropout's table through its own __init__, which
    passes rate=None on positionally."""
    with pytest.warns(UserWarning, match=r"`SpatialDropout1D\(rate=0.3\)`") as rec:
        layer = layers.SpatialDropout1D(p=0.3)
    assert layer.rate == 0.3 and rec[0].filename == __file__
    with pytest.warns(UserWarning, match=r"`Dense\(4\)`"):
        assert layers.Dense(units=None, output_dim=4).units == 4
