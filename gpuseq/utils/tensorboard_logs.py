"""Writing what Keras's TensorBoard callback shows, without TensorFlow: scalars, weight,
output and gradient histograms, weight images, a layer graph and projector embeddings,
in TensorBoard's event-file format through the small `tensorboardX` writer.

`EventLog` is what `gpuseq.callbacks.TensorBoard` writes through; it takes the model as
an argument and needs nothing of the training loop.
"""
import importlib

import numpy as np

from .. import backend as K
from ..backend import autodiff

__all__ = ["EventLog", "weight_tag", "weight_image"]


def _tensorboardx():
    try:
        return importlib.import_module("tensorboardX")
    except ImportError as error:
        raise ImportError(
            "The TensorBoard callback writes its event files with the tensorboardX package, "
            "which is not installed. Install it with `pip install tensorboardX` (or "
            "`pip install \"gpuseq[tensorboard]\"`); TensorFlow is not needed.") from error


def _host(value):
    if type(value).__module__.startswith("cupy"):
        value = value.get()
    return np.asarray(value)


def weight_tag(weight):
    """Keras's tag of a weight: its name with ':' replaced ('dense_1/kernel_0')."""
    return weight.name.replace(":", "_")


def weight_image(value, data_format="channels_last"):
    """A weight as Keras 2.2.4 shows it: images (n, rows, cols, 1), or None.

    A kernel matrix is one image, wider than tall; a 3-D kernel (after squeezing, e.g. a
    Conv2D kernel with one input channel) one image per slice of its last axis; a bias
    one row of pixels. Other ranks are not shown.
    """
    w = np.squeeze(value)
    if w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        return w[np.newaxis, :, :, np.newaxis]
    if w.ndim == 3:
        if data_format == "channels_last":
            w = np.transpose(w, (2, 0, 1))
        return w[:, :, :, np.newaxis]
    if w.ndim == 1:
        return w[np.newaxis, :, np.newaxis, np.newaxis]
    return None


def _to_unit_range(images):
    low, high = images.min(), images.max()
    return (images - low) / (high - low) if high > low else np.zeros_like(images)


def _batches(n, batch_size):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


class EventLog(object):
    """An event-file writer in `log_dir` (created on first use).

    Args:
        log_dir: folder of the event files (TensorBoard's `--logdir`).
    """

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            self._writer = _tensorboardx().SummaryWriter(logdir=self.log_dir)
        return self._writer

    def scalars(self, logs, step):
        """Each numeric entry of `logs` (except 'batch' and 'size') as a scalar."""
        for name, value in logs.items():
            if name in ("batch", "size"):
                continue
            value = _host(value)
            if value.size == 1 and np.issubdtype(value.dtype, np.number):
                self.writer.add_scalar(name, float(value.reshape(())), step)
        self.writer.flush()

    def weight_histograms(self, model, step):
        for layer in model.layers:
            for weight, value in zip(layer.weights, layer.get_weights()):
                self.writer.add_histogram(weight_tag(weight), _host(value), step)

    def weight_images(self, model, step):
        for layer in model.layers:
            for weight, value in zip(layer.weights, layer.get_weights()):
                images = weight_image(_host(value), K.image_data_format())
                if images is not None:
                    self.writer.add_images(weight_tag(weight), _to_unit_range(images), step,
                                           dataformats="NHWC")

    def output_histograms(self, model, inputs, step, batch_size):
        """Histograms '<layer>_out' of every layer's output on `inputs` (list of arrays)."""
        outputs = [layer.output for layer in model.layers]
        fn = K.function(list(model.inputs) if hasattr(model, "inputs") else [model.input],
                        outputs)
        values = [[] for _ in outputs]
        for part in _batches(len(inputs[0]), batch_size):
            for i, out in enumerate(fn([x[part] for x in inputs])):
                values[i].append(_host(out))
        for layer, parts in zip(model.layers, values):
            self.writer.add_histogram("%s_out" % layer.name, np.concatenate(parts), step)

    def gradient_histograms(self, model, inputs, targets, sample_weights, step):
        """Histograms '<weight>_grad' of the loss gradients on the given data."""
        params = model._trainable_variables()
        loss, _, _ = model._loss_and_outputs(inputs, targets, sample_weights, training=False)
        grads = autodiff.gradients(loss, params)
        for weight, grad in zip(params, grads):
            self.writer.add_histogram("%s_grad" % weight_tag(weight), _host(grad), step)

    def graph(self, model):
        """The model's layers as a TensorBoard graph: one name scope per layer holding
        its operation and weights, linked in the order data flows."""
        proto = importlib.import_module("tensorboardX.proto.graph_pb2")
        event_pb2 = importlib.import_module("tensorboardX.proto.event_pb2")
        graph = proto.GraphDef()
        previous = self._input_node(graph, model)
        for layer in model.layers:
            previous = self._layer_nodes(graph, layer, previous)
        self.writer._get_file_writer().add_event(
            event_pb2.Event(graph_def=graph.SerializeToString()))
        self.writer.flush()

    @staticmethod
    def _shape_attr(node, key, shape):
        dims = node.attr[key].shape.dim
        for size in shape:
            dims.add().size = -1 if size is None else int(size)

    def _input_node(self, graph, model):
        node = graph.node.add(name="input", op="Placeholder")
        shape = getattr(model.layers[0], "input_shape", None) if model.layers else None
        if isinstance(shape, tuple):
            self._shape_attr(node, "shape", shape)
        return node.name

    def _layer_nodes(self, graph, layer, previous):
        inputs = [previous]
        for weight, value in zip(layer.weights, layer.get_weights()):
            name = "%s/%s" % (layer.name, weight.name.split("/")[-1].split(":")[0])
            node = graph.node.add(name=name, op="VariableV2")
            self._shape_attr(node, "shape", np.shape(value))
            inputs.append(name)
        node = graph.node.add(name="%s/%s" % (layer.name, type(layer).__name__),
                              op=type(layer).__name__, input=inputs)
        shape = getattr(layer, "output_shape", None)
        if isinstance(shape, tuple):
            self._shape_attr(node, "_output_shapes", shape)
        return node.name

    def embeddings(self, model, layer_names, inputs, metadata, step, batch_size):
        """For each named layer, its outputs on `inputs`, flattened to one row per sample,
        as a projector embedding tagged with the layer name (with `metadata[name]`, the
        path of a TSV file of labels, when given)."""
        for name in layer_names:
            layer = model.get_layer(name)
            fn = K.function(list(model.inputs) if hasattr(model, "inputs") else [model.input],
                            [layer.output])
            rows = [_host(fn([x[part] for x in inputs])[0])
                    for part in _batches(len(inputs[0]), batch_size)]
            matrix = np.concatenate(rows).reshape(len(inputs[0]), -1)
            labels, header = _read_metadata(metadata.get(name))
            self.writer.add_embedding(matrix, metadata=labels, metadata_header=header,
                                      tag=name, global_step=step)

    def flush(self):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _read_metadata(path):
    """(labels, header) of a projector metadata TSV file: one label per line, or a header
    line and tab-separated columns."""
    if path is None:
        return None, None
    with open(path) as f:
        lines = [line.rstrip("\n") for line in f if line.strip("\n")]
    if lines and "\t" in lines[0]:
        return [line.split("\t") for line in lines[1:]], lines[0].split("\t")
    return lines, None
