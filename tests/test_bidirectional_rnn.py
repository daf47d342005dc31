"""Bidirectional around the generic RNN layer, with built-in and user cells."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.layers import (RNN, Bidirectional, Dense, GRUCell, Layer, LSTMCell,
                           SimpleRNNCell, deserialize)
from gpuseq.models import Sequential, model_from_json
from gpuseq.testing import assert_close


class LeakyCell(Layer):
    """A user cell: h = 0.5 h_prev + tanh(x W + h_prev U)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "orthogonal")
        self.built = True

    def call(self, inputs, states):
        h = states[0] * 0.5 + K.tanh(K.dot(inputs, self.kernel)
                                     + K.dot(states[0], self.recurrent_kernel))
        return h, [h]

    def get_config(self):
        return dict(super().get_config(), units=self.units)


class CellWithoutConfig(Layer):
    """A user cell whose get_config does not name its constructor arguments."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.built = True

    def call(self, inputs, states):
        h = K.dot(inputs, self.kernel) + states[0]
        return h, [h]


CELLS = {
    "lstm": lambda: LSTMCell(3),
    "gru": lambda: GRUCell(3),
    "simple": lambda: SimpleRNNCell(3),
    "user": lambda: LeakyCell(3),
    "stacked": lambda: [LSTMCell(4), LeakyCell(3)],
}
MERGES = {"concat": lambda f, b: np.concatenate([f, b], -1), "sum": lambda f, b: f + b,
          "mul": lambda f, b: f * b, "ave": lambda f, b: (f + b) / 2}


def _one_direction(cell, weights, x, go_backwards, return_sequences):
    """Run RNN(cell) alone with ``weights``, in one direction."""
    rnn = RNN(cell, return_sequences=return_sequences, go_backwards=go_backwards,
              dtype="float64", input_shape=x.shape[1:])
    model = Sequential([rnn])
    rnn.set_weights(weights)
    return model.predict(x)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_rnn_equals_the_two_directions_run_alone(cell, mode, return_sequences):
    rng = np.random.default_rng(7)
    bi = Bidirectional(RNN(CELLS[cell](), return_sequences=return_sequences, dtype="float64"),
                       merge_mode=mode, input_shape=(5, 2))
    model = Sequential([bi])
    x = rng.standard_normal((3, 5, 2))
    weights = bi.get_weights()
    half = len(weights) // 2
    assert np.abs(weights[0] - weights[half]).max() > 0      # two independent kernels
    yf = _one_direction(CELLS[cell](), weights[:half], x, False, return_sequences)
    yb = _one_direction(CELLS[cell](), weights[half:], x, True, return_sequences)
    if return_sequences:
        yb = yb[:, ::-1]
    if mode is None:
        out_f, out_b = bi(x)
        assert_close(out_f.numpy(), yf, 1e-10, 1e-12, f"forward {cell}")
        assert_close(out_b.numpy(), yb, 1e-10, 1e-12, f"backward {cell}")
        return
    assert_close(model.predict(x), MERGES[mode](yf, yb), 1e-10, 1e-12, f"{cell} {mode}")
    width = yf.shape[-1] * (2 if mode == "concat" else 1)
    assert model.output_shape == ((None, 5, width) if return_sequences else (None, width))


def test_weights_are_forward_then_backward_with_keras_names():
    bi = Bidirectional(RNN([LSTMCell(4), LeakyCell(3)]), input_shape=(5, 2))
    Sequential([bi])
    names = [w.name for w in bi.weights]
    fwd, bwd = f"{bi.name}/forward_{bi.layer.name}", f"{bi.name}/backward_{bi.layer.name}"
    shorts = ["kernel", "recurrent_kernel", "bias", "kernel_1", "recurrent_kernel_1"]
    assert names == [f"{fwd}/{n}:0" for n in shorts] + [f"{bwd}/{n}:0" for n in shorts]
    assert bi.count_params() == 2 * (2 * 16 + 4 * 16 + 16 + 4 * 3 + 3 * 3)
    assert bi.forward_layer.go_backwards is False and bi.backward_layer.go_backwards is True


def test_bidirectional_rnn_trains_and_its_model_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(8)
    model = Sequential([Bidirectional(RNN(LeakyCell(3), return_sequences=True),
                                      input_shape=(4, 2)),
                        Bidirectional(RNN(GRUCell(2)), merge_mode="ave"),
                        Dense(1)])
    model.compile("adam", "mse")
    x, y = rng.standard_normal((16, 4, 2)), rng.standard_normal((16, 1))
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(np.abs(a - b).max() > 0 for a, b in zip(model.get_weights(), before))
    clone = model_from_json(model.to_json(), custom_objects={"LeakyCell": LeakyCell})
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    clone.load_weights(path)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


@pytest.mark.parametrize("cell", ["lstm", "user", "stacked"])
def test_config_round_trip(cell):
    bi = Bidirectional(RNN(CELLS[cell](), return_sequences=True), merge_mode="mul",
                       input_shape=(4, 2))
    Sequential([bi])
    cfg = bi.get_config()
    assert cfg["layer"]["class_name"] == "RNN"
    clone = deserialize({"class_name": "Bidirectional", "config": cfg},
                        custom_objects={"LeakyCell": LeakyCell})
    assert clone.get_config() == cfg
    assert isinstance(clone.backward_layer, RNN) and clone.backward_layer.go_backwards
    x = np.random.default_rng(9).standard_normal((2, 4, 2)).astype("float32")
    Sequential([clone])
    clone.set_weights(bi.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), bi(x).numpy())


def test_given_backward_rnn_and_refusals():
    fwd = RNN(LeakyCell(2), return_sequences=True)
    bwd = RNN(GRUCell(2), return_sequences=True, go_backwards=True)
    bi = Bidirectional(fwd, backward_layer=bwd, input_shape=(3, 2))
    Sequential([bi])
    assert bi.backward_layer is bwd
    assert bi.compute_output_shape((None, 3, 2)) == (None, 3, 4)
    with pytest.raises(ValueError, match="get_config"):
        Bidirectional(RNN(CellWithoutConfig(2)))
    with pytest.raises(ValueError, match="other direction"):
        Bidirectional(RNN(GRUCell(2)), backward_layer=RNN(GRUCell(2)))
    with pytest.raises(ValueError, match="backward_layer must be a recurrent layer"):
        Bidirectional(RNN(GRUCell(2)), backward_layer=Dense(2))


def test_return_state_and_initial_state_count_the_cells_states():
    bi = Bidirectional(RNN(LSTMCell(2), return_state=True))
    x = np.ones((1, 3, 2), dtype="float32")
    out = bi(x)
    assert len(out) == 5 and out[0].shape == (1, 4)
    assert bi.compute_output_shape((None, 3, 2)) == [(None, 4)] + [(None, 2)] * 4
    zeros = [np.zeros((1, 2), dtype="float32")] * 4
    assert_close(bi(x, initial_state=zeros)[0].numpy(), out[0].numpy(), 0, 0, "zero states")
    with pytest.raises(ValueError, match="expects 4 initial states"):
        bi(x, initial_state=zeros[:2])
