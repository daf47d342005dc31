"""Drawing a model's layers with Graphviz: `model_to_dot` and `plot_model`, as in Keras 2's
``keras.utils.vis_utils``. Needs the pydot package and Graphviz's `dot` program.

Example:
    >>> from gpuseq.utils import plot_model
    >>> plot_model(model, to_file='model.png', show_shapes=True)  # doctest: +SKIP
"""
import importlib
import os

__all__ = ["model_to_dot", "plot_model"]

_RANKDIRS = ("TB", "LR", "BT", "RL")


def _pydot():
    """pydot, checked to find Graphviz's `dot`; otherwise an ImportError naming both."""
    try:
        pydot = importlib.import_module("pydot")
    except ImportError as error:
        raise ImportError("plot_model and model_to_dot need the pydot package, which is not "
                          "installed: `pip install pydot`, and Graphviz "
                          "(e.g. `apt-get install graphviz`).") from error
    try:
        pydot.Dot.create(pydot.Dot())
    except Exception as error:  # pydot reports a missing `dot` in several ways
        raise ImportError("plot_model and model_to_dot need Graphviz's `dot` program, which "
                          "was not found (%s). Install Graphviz (e.g. `apt-get install "
                          "graphviz` or `brew install graphviz`) and make sure `dot` is on "
                          "the PATH." % (error,)) from error
    return pydot


def _shape_text(shape):
    if isinstance(shape, list):
        return ", ".join(str(s) for s in shape)
    return str(shape)


def _label(name, class_name, show_layer_names, shapes=None):
    label = "%s: %s" % (name, class_name) if show_layer_names else class_name
    if shapes is not None:
        label = "%s\\n|{input:|output:}|{{%s}|{%s}}" % (
            label, _shape_text(shapes[0]), _shape_text(shapes[1]))
    return label


def _input_node(model, show_shapes, show_layer_names):
    """(name, label) of the InputLayer Keras draws before a Sequential's first layer."""
    first = model.layers[0]
    if type(first).__name__ == "InputLayer":
        return None
    name = getattr(model.input, "name", first.name + "_input").split(":")[0]
    shape = getattr(first, "input_shape", None)
    return name, _label(name, "InputLayer", show_layer_names,
                        (shape, shape) if show_shapes else None)


def _layer_shapes(layer):
    try:
        return layer.input_shape, layer.output_shape
    except (AttributeError, RuntimeError, ValueError):
        return "multiple", "multiple"


def model_to_dot(model, show_shapes=False, show_layer_names=True, rankdir="TB"):
    """A `pydot.Dot` graph of the model: one box per layer, arrows in data order.

    Args:
        model: a gpuseq model (it is built first if needed).
        show_shapes: show each layer's input and output shapes.
        show_layer_names: show the layer names beside the class names.
        rankdir: 'TB' (top to bottom), 'LR', 'BT' or 'RL'.

    Returns:
        A `pydot.Dot`.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError("rankdir must be one of %s. Received: rankdir=%r" % (_RANKDIRS, rankdir))
    if not getattr(model, "built", True):
        model.build()
    if not model.layers:
        raise ValueError("model_to_dot needs a model with at least one layer.")
    pydot = _pydot()
    dot = pydot.Dot()
    dot.set("rankdir", rankdir)
    dot.set("concentrate", True)
    dot.set_node_defaults(shape="record")
    previous = None
    head = _input_node(model, show_shapes, show_layer_names)
    if head is not None:
        dot.add_node(pydot.Node(head[0], label=head[1]))
        previous = head[0]
    for layer in model.layers:
        shapes = _layer_shapes(layer) if show_shapes else None
        dot.add_node(pydot.Node(layer.name, label=_label(layer.name, type(layer).__name__,
                                                         show_layer_names, shapes)))
        if previous is not None:
            dot.add_edge(pydot.Edge(previous, layer.name))
        previous = layer.name
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_layer_names=True,
               rankdir="TB"):
    """Draws the model into an image file; the format comes from the file's extension
    ('.png', '.svg', '.pdf', ...; none: PNG).

    Args:
        model, show_shapes, show_layer_names, rankdir: as for `model_to_dot`.
        to_file: output file name.
    """
    dot = model_to_dot(model, show_shapes, show_layer_names, rankdir)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    dot.write(to_file, format=extension)
