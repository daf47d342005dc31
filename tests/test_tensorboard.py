"""TensorBoard and RemoteMonitor callbacks: event files read back with TensorBoard's own
reader, projector files, and POSTs received by a local HTTP server."""
import json
import os
import urllib.parse

import numpy as np
import pytest

pytest.importorskip("tensorboardX", reason="TensorBoard's writer needs tensorboardX")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="reading event files back needs the tensorboard package")

from gpuseq.callbacks import RemoteMonitor, TensorBoard  # noqa: E402
from gpuseq.layers import Dense, Embedding, Flatten  # noqa: E402
from gpuseq.models import Sequential  # noqa: E402
from gpuseq.optimizers import SGD  # noqa: E402
from gpuseq.utils import set_random_seed  # noqa: E402
from tests._local_http import serve_folder  # noqa: E402


def _read(log_dir):
    acc = event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={event_accumulator.SCALARS: 0,
                                     event_accumulator.HISTOGRAMS: 0,
                                     event_accumulator.IMAGES: 0})
    acc.Reload()
    return acc


def _data(n=40):
    rng = np.random.RandomState(0)
    x = rng.rand(n, 6).astype("float32")
    y = np.eye(3, dtype="float32")[rng.randint(0, 3, n)]
    return x, y


def _mlp():
    set_random_seed(0)
    model = Sequential([Dense(5, activation="relu", input_dim=6),
                        Dense(3, activation="softmax")])
    model.compile(SGD(lr=0.1), "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_epoch_scalars_histograms_images_graph(tmp_path):
    x, y = _data()
    model = _mlp()
    board = TensorBoard(log_dir=str(tmp_path), histogram_freq=2, write_images=True,
                        write_grads=True, batch_size=16)
    history = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.25, verbose=0,
                        callbacks=[board])
    acc = _read(tmp_path)
    for name in ("loss", "val_loss", "accuracy", "val_accuracy"):
        events = acc.Scalars(name)
        assert [e.step for e in events] == [0, 1, 2]
        np.testing.assert_allclose([e.value for e in events], history.history[name], rtol=1e-6)
    tags = acc.Tags()
    first, second = (layer.name for layer in model.layers)
    for tag in ("F/kernel_0", "F/bias_0", "S/kernel_0", "F_out", "S_out", "F/kernel_0_grad",
                "S/bias_0_grad"):
        tag = tag.replace("F", first).replace("S", second)
        assert tag in tags["histograms"], tag
    assert [h.step for h in acc.Histograms(first + "/kernel_0")] == [0, 2]
    final = acc.Histograms(second + "/kernel_0")[-1].histogram_value
    kernel = model.layers[1].get_weights()[0]
    assert final.num == kernel.size
    assert final.min == pytest.approx(kernel.min()) and final.max == pytest.approx(kernel.max())
    assert final.sum == pytest.approx(kernel.sum(), rel=1e-5)
    outputs = acc.Histograms(second + "_out")[-1].histogram_value
    assert outputs.num == 10 * 3                 # the 10 validation samples' softmax rows
    assert outputs.sum == pytest.approx(10.0, rel=1e-5)
    image = acc.Images(first + "/kernel_0")[0]
    assert (image.height, image.width) == (5, 6)    # the 6x5 kernel shown wider than tall
    assert first + "/bias_0" in tags["images"]
    graph = acc.Graph()
    names = {node.name: node for node in graph.node}
    assert list(names[second + "/Dense"].input) == [first + "/Dense", second + "/kernel",
                                                    second + "/bias"]
    assert names[first + "/Dense"].op == "Dense" and names["input"].op == "Placeholder"


def test_gradient_histogram_values(tmp_path):
    x, y = _data(8)
    model = _mlp()
    board = TensorBoard(log_dir=str(tmp_path), histogram_freq=1, write_grads=True,
                        write_graph=False)
    board.set_model(model)
    board.validation_data = [x, y, np.ones(8, "float32")]
    board.on_epoch_end(0, {})
    board.on_train_end()
    tag = "%s/bias_0_grad" % model.layers[1].name
    grad = _read(tmp_path).Histograms(tag)[0].histogram_value
    # d(mean cross-entropy)/d(bias) = mean(softmax - y) over the samples
    expected = (model.predict(x) - y).mean(axis=0)
    assert grad.sum == pytest.approx(expected.sum(), abs=1e-6)
    assert grad.min == pytest.approx(expected.min(), abs=1e-6)
    assert grad.max == pytest.approx(expected.max(), abs=1e-6)


@pytest.mark.parametrize("update_freq, steps", [("batch", [10, 20, 30, 40]), (20, [20, 40])])
def test_batch_scalars(tmp_path, update_freq, steps):
    x, y = _data()
    model = _mlp()
    model.fit(x, y, epochs=1, batch_size=10, verbose=0, shuffle=False,
              callbacks=[TensorBoard(log_dir=str(tmp_path), update_freq=update_freq,
                                     write_graph=False)])
    losses = _read(tmp_path).Scalars("loss")
    # every write at the samples seen so far; the epoch's average is written at 40 too
    assert [e.step for e in losses] == steps + [40]


def test_embeddings_for_projector(tmp_path):
    set_random_seed(1)
    model = Sequential([Embedding(7, 3, input_length=2, name="words"), Flatten(),
                        Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    x = np.array([[0, 1], [2, 3], [4, 5], [6, 0]])
    y = np.eye(2)[[0, 1, 0, 1]]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "labels.tsv").write_text("a\nb\nc\nd\n")     # relative to log_dir
    board = TensorBoard(log_dir=str(tmp_path / "logs"), embeddings_freq=1, embeddings_data=x,
                        embeddings_metadata="labels.tsv", write_graph=False)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[board])
    from tensorboard.plugins.projector import projector_config_pb2
    from google.protobuf import text_format
    config = text_format.Parse((tmp_path / "logs" / "projector_config.pbtxt").read_text(),
                               projector_config_pb2.ProjectorConfig())
    assert len(config.embeddings) == 2
    last = config.embeddings[-1]
    folder = tmp_path / "logs" / os.path.dirname(last.tensor_path)
    matrix = np.loadtxt(folder / "tensors.tsv", delimiter="\t")
    table = model.layers[0].get_weights()[0]
    np.testing.assert_allclose(matrix, table[x].reshape(4, 6), rtol=1e-5)
    assert (folder / "metadata.tsv").read_text().split() == ["a", "b", "c", "d"]


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(histogram_freq=-1), "histogram_freq"),
    (dict(update_freq="hourly"), "update_freq"),
    (dict(embeddings_freq=1), "embeddings_data"),
])
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        TensorBoard(**kwargs)


def test_unknown_embedding_layer(tmp_path):
    board = TensorBoard(log_dir=str(tmp_path), embeddings_freq=1, embeddings_data=np.zeros(2),
                        embeddings_layer_names=["nope"])
    with pytest.raises(ValueError, match="nope"):
        board.set_model(_mlp())


def test_missing_tensorboardx_named(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match="tensorboardX"):
        TensorBoard(log_dir=str(tmp_path)).set_model(_mlp())


def test_remote_monitor_posts_form_and_json(tmp_path):
    x, y = _data(20)
    with serve_folder(tmp_path) as (url, server):
        model = _mlp()
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[
            RemoteMonitor(root=url.rstrip("/"), path="/publish/", headers={"X-Run": "7"}),
            RemoteMonitor(root=url.rstrip("/"), path="/json/", send_as_json=True)])
    forms = [p for p in server.posts if p[0] == "/publish/"]
    bodies = [p for p in server.posts if p[0] == "/json/"]
    assert len(forms) == 2 and len(bodies) == 2
    sent = json.loads(urllib.parse.parse_qs(forms[1][2].decode())["data"][0])
    assert sent["epoch"] == 1
    assert sent["loss"] == pytest.approx(history.history["loss"][1])
    assert forms[0][1]["X-Run"] == "7"
    assert json.loads(bodies[0][2])["epoch"] == 0
    assert bodies[0][1]["Content-Type"] == "application/json"


def test_remote_monitor_unreachable_warns():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monitor = RemoteMonitor(root="http://127.0.0.1:%d" % port)
    with pytest.warns(RuntimeWarning, match="could not reach"):
        monitor.on_epoch_end(0, {"loss": np.float32(0.5)})
