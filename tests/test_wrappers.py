"""TimeDistributed and Bidirectional."""
import warnings

import numpy as np
import pytest
from reference import ref_gru, ref_lstm

from gpuseq.backend import autodiff as ad
from gpuseq.layers import (GRU, LSTM, Activation, Bidirectional, Dense, Embedding, Merge,
                           RepeatVector, SimpleRNN, TimeDistributed, deserialize)
from gpuseq.models import Sequential
from gpuseq.testing import assert_close


# ---------------------------------------------------------------- TimeDistributed
def test_time_distributed_dense_applies_the_same_dense_to_every_step():
    rng = np.random.default_rng(0)
    td = TimeDistributed(Dense(4), input_shape=(5, 3))
    model = Sequential([td])
    assert model.output_shape == (None, 5, 4)
    assert [w.name for w in td.weights] == [f"{td.name}/kernel:0", f"{td.name}/bias:0"]
    assert td.count_params() == 3 * 4 + 4
    W, b = td.get_weights()
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    expected = np.stack([x[:, t] @ W + b for t in range(5)], axis=1)
    assert_close(model.predict(x), expected, 1e-5, 1e-6, "TimeDistributed(Dense)")


def test_time_distributed_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    td = TimeDistributed(Dense(2, activation="tanh", dtype="float64"))
    x = ad.Tensor(rng.standard_normal((3, 4, 2)))
    g = rng.standard_normal((3, 4, 2))
    y = td(x)
    loss = ad.reduce_sum(y * ad.Tensor(g))
    (gk,) = ad.gradients(loss, [td.layer.kernel])
    W, b = td.get_weights()
    num = np.zeros_like(W)
    for i in np.ndindex(*W.shape):
        for s in (1, -1):
            Wp = W.copy()
            Wp[i] += s * 1e-6
            num[i] += s * (np.tanh(x.numpy() @ Wp + b) * g).sum() / 2e-6
    assert_close(gk, num, 1e-6, 1e-8, "d kernel through TimeDistributed")


def test_time_distributed_errors_and_config():
    model = Sequential([Dense(3, input_shape=(4,))])
    with pytest.raises(ValueError, match="at least 3 dimensions.*return_sequences"):
        model.add(TimeDistributed(Dense(2)))
    with pytest.raises(TypeError, match="wraps a gpuseq layer"):
        TimeDistributed("dense")
    td = TimeDistributed(Dense(2, activation="relu"), input_shape=(3, 5))
    clone = deserialize({"class_name": "TimeDistributed", "config": td.get_config()})
    assert isinstance(clone.layer, Dense) and clone.layer.units == 2
    assert Sequential([clone]).output_shape == (None, 3, 2)


def test_time_distributed_passes_the_mask_on():
    model = Sequential([Embedding(9, 3, mask_zero=True), GRU(4, return_sequences=True),
                        TimeDistributed(Dense(2)), LSTM(2)])
    a = model.predict(np.array([[3, 5, 0, 0]]))
    b = model.predict(np.array([[3, 5]]))
    assert_close(a, b, 1e-6, 1e-6, "mask through TimeDistributed")


# ---------------------------------------------------------------- Bidirectional
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_matches_two_references(return_sequences, mode):
    rng = np.random.default_rng(2)
    bi = Bidirectional(LSTM(3, return_sequences=return_sequences, dtype="float64"),
                       merge_mode=mode, input_shape=(4, 2))
    model = Sequential([bi])
    x = rng.standard_normal((2, 4, 2))
    Wf, Uf, bf, Wb, Ub, bb = [w.astype(np.float64) for w in bi.get_weights()]
    z = np.zeros((2, 3))
    yf, _ = ref_lstm(x, Wf, Uf, bf, z, z, return_sequences=return_sequences)
    yb, _ = ref_lstm(x, Wb, Ub, bb, z, z, return_sequences=return_sequences,
                     go_backwards=True)
    if return_sequences:
        yb = yb[:, ::-1]
    expected = {"concat": np.concatenate([yf, yb], -1), "sum": yf + yb, "mul": yf * yb,
                "ave": (yf + yb) / 2}[mode]
    assert_close(model.predict(x), expected, 1e-10, 1e-12, f"Bidirectional {mode}")
    width = 6 if mode == "concat" else 3
    assert model.output_shape == ((None, 4, width) if return_sequences else (None, width))


def test_bidirectional_weights_names_and_the_seed_usage():
    model = Sequential()
    model.add(Bidirectional(LSTM(10, return_sequences=True), input_shape=(5, 10)))
    model.add(Bidirectional(LSTM(10)))
    model.add(Dense(5))
    model.add(Activation("softmax"))
    bi = model.layers[0]
    names = [w.name for w in bi.weights]
    assert names[0] == f"{bi.name}/forward_{bi.layer.name}/kernel:0"
    assert names[3] == f"{bi.name}/backward_{bi.layer.name}/kernel:0"
    assert len(names) == 6 and bi.count_params() == 2 * (10 * 40 + 10 * 40 + 40)
    assert model.output_shape == (None, 5)
    model.compile("rmsprop", "categorical_crossentropy")
    rng = np.random.default_rng(3)
    x = rng.random((8, 5, 10))
    y = np.eye(5)[rng.integers(0, 5, 8)]
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    after = model.get_weights()
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before))   # all trained


def test_bidirectional_merge_mode_none_gives_both_outputs():
    bi = Bidirectional(GRU(2, dtype="float64"), merge_mode=None)
    x = ad.Tensor(np.random.default_rng(4).standard_normal((3, 5, 2)))
    yf, yb = bi(x)
    Wf, Uf, bf, Wb, Ub, bb = bi.get_weights()
    z = np.zeros((3, 2))
    assert_close(yf.numpy(), ref_gru(x.numpy(), Wf, Uf, bf, z)[0], 1e-10, 1e-12, "forward")
    assert_close(yb.numpy(), ref_gru(x.numpy(), Wb, Ub, bb, z, go_backwards=True)[0],
                 1e-10, 1e-12, "backward")
    assert bi.compute_output_shape((None, 5, 2)) == [(None, 2), (None, 2)]


def test_bidirectional_masking_and_return_state():
    model = Sequential([Embedding(7, 3, mask_zero=True),
                        Bidirectional(SimpleRNN(2, return_sequences=True)),
                        Bidirectional(LSTM(2))])
    a = model.predict(np.array([[2, 4, 6, 0]]))
    b = model.predict(np.array([[2, 4, 6]]))
    assert_close(a, b, 1e-6, 1e-6, "masked Bidirectional")
    bi = Bidirectional(LSTM(2, return_state=True))
    out = bi(ad.Tensor(np.ones((1, 3, 2), dtype="float32")))
    assert len(out) == 5 and out[0].shape == (1, 4)
    assert bi.compute_output_shape((None, 3, 2)) == [(None, 4)] + [(None, 2)] * 4


def test_bidirectional_stateful_and_errors():
    bi = Bidirectional(GRU(2, stateful=True), batch_input_shape=(2, 3, 1))
    model = Sequential([bi])
    x = np.random.default_rng(5).random((2, 3, 1)).astype("float32")
    first = model.predict(x, batch_size=2)
    second = model.predict(x, batch_size=2)
    assert np.abs(first - second).max() > 1e-6          # states carried
    model.reset_states()
    assert_close(model.predict(x, batch_size=2), first, 0, 0, "after reset")
    with pytest.raises(ValueError, match="recurrent layer"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")
    with pytest.raises(AttributeError, match="must be stateful"):
        Bidirectional(LSTM(3)).reset_states()
    with pytest.raises(ValueError, match="other direction"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3))


def test_bidirectional_config_round_trip():
    bi = Bidirectional(LSTM(3, return_sequences=True), merge_mode="sum",
                       input_shape=(4, 2))
    Sequential([bi])
    clone = deserialize({"class_name": "Bidirectional", "config": bi.get_config()})
    m = Sequential([clone])
    m.set_weights(bi.get_weights())
    x = np.random.default_rng(6).random((2, 4, 2)).astype("float32")
    assert_close(m.predict(x), bi(ad.Tensor(x)).numpy(), 0, 0, "clone")
    assert clone.merge_mode == "sum" and clone.forward_layer.return_sequences


# ---------------------------------------------------------------- captioning structure
def test_image_captioning_structure_trains():
    """The seed's structure: (image features -> Dense(128) -> RepeatVector) merged with
    (Embedding -> GRU(return_sequences) -> TimeDistributed(Dense(128))), then GRU(256)
    and a softmax over the vocabulary (small sizes; the image model is a Dense stand-in
    for the convolutional encoder)."""
    max_caption_len, vocab_size = 6, 30
    image_model = Sequential()
    image_model.add(Dense(128, input_shape=(48,)))
    image_model.add(RepeatVector(max_caption_len))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        language_model = Sequential()
        language_model.add(Embedding(vocab_size, 256, input_length=max_caption_len))
        language_model.add(GRU(output_dim=128, return_sequences=True))
        language_model.add(TimeDistributed(Dense(128)))
    assert language_model.output_shape == (None, max_caption_len, 128)
    model = Sequential()
    model.add(Merge([image_model, language_model], mode="concat", concat_axis=-1))
    model.add(GRU(256, return_sequences=False))
    model.add(Dense(vocab_size))
    model.add(Activation("softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    rng = np.random.default_rng(7)
    images = rng.random((8, 48)).astype("float32")
    captions = rng.integers(0, vocab_size, (8, max_caption_len))
    next_words = np.eye(vocab_size)[rng.integers(0, vocab_size, 8)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = model.fit([images, captions], next_words, batch_size=4, nb_epoch=3, verbose=0)
    loss = hist.history["loss"]
    assert np.isfinite(loss).all() and loss[-1] < loss[0]


def test_weights_file_layout_and_model_round_trip(tmp_path):
    h5py = pytest.importorskip("h5py")
    from gpuseq.models import load_model
    model = Sequential([Embedding(50, 8, input_length=5, mask_zero=True),
                        Bidirectional(LSTM(4, return_sequences=True)),
                        GRU(3, return_sequences=True, reset_after=False),
                        TimeDistributed(Dense(2)), SimpleRNN(2)])
    model.compile("adam", "mse")
    x = np.random.default_rng(8).integers(0, 50, (4, 5))
    y = model.predict(x)
    model.save_weights(str(tmp_path / "w.h5"))
    names = []
    with h5py.File(tmp_path / "w.h5", "r") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    bi, gru, td = model.layers[1].name, model.layers[2].name, model.layers[3].name
    assert f"{bi}/{bi}/forward_{model.layers[1].layer.name}/kernel:0" in names
    assert f"{gru}/{gru}/recurrent_kernel:0" in names
    assert f"{td}/{td}/kernel:0" in names
    model.save(str(tmp_path / "m.h5"))
    clone = load_model(str(tmp_path / "m.h5"))
    assert_close(clone.predict(x), y, 0, 0, "reloaded model")
