"""plot_model / model_to_dot through pydot and Graphviz."""
import shutil
import sys

import pytest

pydot = pytest.importorskip("pydot", reason="plot_model needs pydot (pip install pydot)")

from gpuseq.layers import Conv2D, Dense, Dropout, Flatten  # noqa: E402
from gpuseq.models import Sequential  # noqa: E402
from gpuseq.utils import model_to_dot, plot_model, vis_utils  # noqa: E402

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` is not installed (apt-get install graphviz)")


def _model():
    return Sequential([Conv2D(2, (3, 3), input_shape=(6, 6, 1)), Flatten(),
                       Dropout(0.5), Dense(3, activation="softmax")])


@needs_dot
def test_dot_nodes_edges_and_shape_labels():
    model = _model()
    dot = model_to_dot(model, show_shapes=True, rankdir="LR")
    names = [layer.name for layer in model.layers]
    head = model.input.name.split(":")[0]
    nodes = {n.get_name().strip('"'): n for n in dot.get_nodes()}
    assert set(names + [head]) <= set(nodes)
    edges = [(e.get_source().strip('"'), e.get_destination().strip('"')) for e in dot.get_edges()]
    assert edges == list(zip([head] + names[:-1], names))
    label = nodes[names[0]].get("label")
    assert "%s: Conv2D" % names[0] in label
    assert "(None, 6, 6, 1)" in label and "(None, 4, 4, 2)" in label
    assert dot.get("rankdir") == "LR"
    plain = model_to_dot(model, show_layer_names=False)
    labels = {n.get_name().strip('"'): n.get("label") for n in plain.get_nodes()}
    assert labels[names[-1]] == "Dense"


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_model_writes_image(tmp_path, suffix, magic):
    model = _model()
    target = tmp_path / ("model" + suffix)
    plot_model(model, to_file=str(target), show_shapes=True)
    data = target.read_bytes()
    assert data.startswith(magic)
    if suffix == ".svg":
        text = data.decode()
        for layer in model.layers:
            assert layer.name in text


@needs_dot
def test_unbuilt_model_is_built_first():
    model = Sequential()
    model.add(Dense(4, input_dim=3))
    assert len(model_to_dot(model).get_edges()) == 1


def test_bad_rankdir():
    with pytest.raises(ValueError, match="rankdir"):
        model_to_dot(_model(), rankdir="UP")


def test_missing_pydot_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)
    with pytest.raises(ImportError, match="pip install pydot"):
        plot_model(_model())


def test_missing_graphviz_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ImportError, match="Graphviz"):
        vis_utils.model_to_dot(_model())
