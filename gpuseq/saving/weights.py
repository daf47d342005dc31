"""Weight files in Keras's HDF5 layouts.

Writing
    * Keras 2 legacy layout (the default, what ``save_weights('w.h5')`` writes):
      root attributes ``layer_names``, ``backend``, ``keras_version`` (byte
      strings); one group per layer (weightless layers too) holding a
      ``weight_names`` attribute (``dense_1/kernel:0``, ...) and one dataset per
      name. Lists over HDF5's 64 KB header limit are split into ``layer_names0``,
      ``layer_names1``, ... as Keras does. Keras 2 and Keras 3
      (``model.load_weights('w.h5')``) read these files.
    * Keras 3 layout (for paths ending in ``.weights.h5``, the suffix Keras 3
      requires): ``layers/<snake_case_class>[_n]/vars/0..``, recurrent layers
      under ``cell/vars``.

    The ``backend`` attribute says ``tensorflow``: it tells Keras which kernel
    convention the arrays follow, and gpuseq's convolutions use TensorFlow's
    (cross-correlation, kernels laid out (rows, cols, in, out)). Files written
    with the ``theano`` backend have their convolution kernels flipped on load.

Reading
    gpuseq / Keras 2 legacy files (weights at the root or under
    ``model_weights``; attributes as bytes or str; chunked attributes), Keras 3
    legacy ``.h5`` (names without ``:0``, ``top_level_model_weights``), Keras 3
    ``.weights.h5``, and, best effort, Keras 1 files (``dense_1_W`` names; an
    LSTM's 12 per-gate arrays repacked to i|f|c|o, a GRU's 9 to z|r|h,
    Theano-ordered convolution kernels transposed).

Loading is all-or-nothing: every array is converted and its shape checked
before any weight is assigned, so a mismatch leaves the model unchanged.
"""
import warnings

import numpy

from ..backend import dispatch
from ..version import __version__
from . import hdf5 as h5
from ..layers.cudnn_recurrent import cudnn_to_standard, standard_to_cudnn
from ..layers.names import CONV_FAMILIES, family, keras3_keys, keras_snake_case

# The Keras version whose layout the legacy files follow, and the kernel convention.
KERAS_LAYOUT_VERSION = "2.2.4"
BACKEND_ATTR = "tensorflow"


def _gpuseq_version():
    return __version__


# ----------------------------------------------------------------------------- layers
def weight_layers(model):
    """The layers whose weights a file holds, in file order.

    A ``Merge`` layer is replaced by the layers of its branches (as Keras 1's
    ``flattened_layers``), so each weight belongs to exactly one layer.
    """
    out, seen = [], set()

    def visit(layers):
        for layer in layers:
            branches = getattr(layer, "branches", None)
            if branches is not None and all(hasattr(b, "layers") for b in branches):
                for b in branches:
                    visit(b.layers)
            elif id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)

    visit(model.layers)
    return out


def _require_built(model, what):
    if not getattr(model, "built", False):
        raise ValueError(
            f"{what}: model '{model.name}' has not been built yet, so it has no weights. "
            "Give the first layer an input_shape (or input_dim), or call "
            "model.build(input_shape) first.")


def _check_unique_names(layers):
    seen = {}
    for layer in layers:
        if layer.name in seen:
            raise ValueError(f"Cannot save weights: two layers are named '{layer.name}' (a "
                             "weight file addresses layers by name). Give the layers of "
                             "Merge branches distinct names.")
        seen[layer.name] = layer


def _host(p):
    return numpy.asarray(dispatch.to_host(p.data))


def _weight_entries(layer):
    """(names, arrays) of a layer's weights; names made unique within the layer."""
    names, arrays, used = [], [], set()
    for i, p in enumerate(layer.weights):
        name = p.name if isinstance(p.name, str) and p.name else f"param_{i}"
        base, k = name, 1
        while name in used:
            stem, colon, idx = base.rpartition(":")
            name = f"{stem}_{k}:{idx}" if colon else f"{base}_{k}"
            k += 1
        used.add(name)
        names.append(name)
        arrays.append(_host(p))
    return names, arrays


# ----------------------------------------------------------------------------- writing
def write_legacy_weights(group, model):
    """Write the Keras 2 legacy layout into ``group`` (a file root or ``model_weights``)."""
    layers = weight_layers(model)
    _check_unique_names(layers)
    h5.write_string_list_attr(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = h5.text_attr(BACKEND_ATTR)
    group.attrs["keras_version"] = h5.text_attr(KERAS_LAYOUT_VERSION)
    group.attrs["gpuseq_version"] = h5.text_attr(_gpuseq_version())
    for layer in layers:
        g = group.create_group(layer.name)
        names, arrays = _weight_entries(layer)
        h5.write_string_list_attr(g, "weight_names", names)
        for name, value in zip(names, arrays):
            h5.write_array(g, name, value)


def _write_vars(group, arrays, name):
    v = group.create_group("vars")
    v.attrs["name"] = name
    for i, a in enumerate(arrays):
        h5.write_array(v, str(i), a)


def _write_state(g, layer, name):
    """One layer's arrays where Keras 3 keeps them: ``vars``; a recurrent layer's
    under ``cell/vars``; a wrapper's under ``layer`` / ``forward_layer`` /
    ``backward_layer``."""
    fam = family(layer)
    if fam in ("SimpleRNN", "LSTM", "GRU", "ConvLSTM2D"):
        _write_vars(g, [], name)
        _write_vars(g.create_group("cell"), [_host(p) for p in layer.weights],
                    "conv_lstm_cell" if fam == "ConvLSTM2D" else f"{keras_snake_case(fam)}_cell")
    elif fam == "RNN":
        _write_rnn_state(g, layer, name)
    elif fam == "Bidirectional" and hasattr(layer, "forward_layer") and \
            hasattr(layer, "backward_layer"):
        _write_vars(g, [], name)
        for part in ("forward_layer", "backward_layer"):
            sub = getattr(layer, part)
            _write_state(g.create_group(part), sub, sub.name)
    elif fam == "TimeDistributed" and hasattr(layer, "layer"):
        _write_vars(g, [], name)
        _write_state(g.create_group("layer"), layer.layer, layer.layer.name)
    else:
        _write_vars(g, [_host(p) for p in layer.weights], name)


def _write_rnn_state(g, layer, name):
    """A generic RNN's cell as Keras 3 keeps it: ``cell/vars``, or for stacked cells
    ``cell/cells/<snake-case cell class>/vars`` (``_1``, ``_2`` for repeated classes)."""
    _write_vars(g, [], name)
    cell, cg = layer.cell, g.create_group("cell")
    cells = getattr(cell, "cells", None)
    if cells is None:
        _write_vars(cg, [_host(p) for p in getattr(cell, "weights", [])],
                    getattr(cell, "name", "cell"))
        return
    _write_vars(cg, [], getattr(cell, "name", "cell"))
    box = cg.create_group("cells")
    for sub, key in zip(cells, keras3_keys(cells)):
        _write_vars(box.create_group(key), [_host(p) for p in getattr(sub, "weights", [])],
                    getattr(sub, "name", key))


def write_keras3_weights(f, model):
    """Write the Keras 3 ``.weights.h5`` layout (``layers/<key>/vars/<i>``)."""
    layers = weight_layers(model)
    root = f.create_group("layers")
    for layer, key in zip(layers, keras3_keys(layers)):
        _write_state(root.create_group(key), layer, layer.name)
    _write_vars(f, [], model.name)


def save_weights(model, filepath, overwrite=True, save_format=None):
    """Write all weights of ``model`` to an HDF5 file (atomically).

    Args:
        model: a built model.
        filepath: path, or an open writable ``h5py.File``/``Group``.
        overwrite: when False and the file exists, raise ``FileExistsError``.
        save_format: ``'h5'`` (Keras 2 legacy layout) or ``'keras3'`` (the
            ``.weights.h5`` layout); default: ``'keras3'`` for names ending in
            ``.weights.h5``, else ``'h5'``.
    """
    _require_built(model, "save_weights")
    if save_format is None:
        name = str(filepath) if not h5.is_h5_object(filepath) else ""
        save_format = "keras3" if name.endswith(".weights.h5") else "h5"
    if save_format not in ("h5", "keras3"):
        raise ValueError("save_format must be 'h5' (Keras 2 layout) or 'keras3' (the "
                         f".weights.h5 layout). Received: save_format={save_format!r}")
    writer = write_legacy_weights if save_format == "h5" else write_keras3_weights
    if h5.is_h5_object(filepath):
        writer(filepath, model)
        return
    with h5.atomic_h5_file(filepath, overwrite, "save_weights") as f:
        writer(f, model)


# ----------------------------------------------------------------------------- reading
class FileLayer:
    """One layer's entry in a weight file."""

    __slots__ = ("name", "weight_names", "arrays", "key", "paths")

    def __init__(self, name, weight_names, arrays, key=None, paths=None):
        self.name, self.weight_names, self.arrays, self.key = name, weight_names, arrays, key
        self.paths = paths      # Keras 3 files: each array's path inside the layer's group

    def __repr__(self):
        return f"FileLayer({self.name!r}, {[a.shape for a in self.arrays]})"


class WeightFile:
    """The weights of a file, read into memory, with what is known of its origin."""

    def __init__(self, fmt, layers, keras_version=None, backend=None, top_level=(),
                 source="the file"):
        self.fmt = fmt                      # 'legacy' | 'keras3'
        self.layers = layers                # [FileLayer]
        self.keras_version = keras_version or "1"
        self.backend = backend
        self.top_level = list(top_level)    # model-level weights (none for Sequential)
        self.source = source

    @property
    def keras1(self):
        return self.fmt == "legacy" and str(self.keras_version).split(".")[0] == "1"


def _legacy_group(f):
    """The group holding ``layer_names``: the root, or ``model_weights``."""
    if h5.read_string_list_attr(f, "layer_names") is not None:
        return f
    if "model_weights" in f:
        g = f["model_weights"]
        if h5.read_string_list_attr(g, "layer_names") is not None:
            return g
    return None


def _read_legacy(f, g, source):
    names = h5.read_string_list_attr(g, "layer_names")
    version = h5.read_text_attr(g, "keras_version") or h5.read_text_attr(f, "keras_version")
    backend = h5.read_text_attr(g, "backend") or h5.read_text_attr(f, "backend")
    layers = []
    for name in names:
        if name not in g:
            raise h5.SavedFileError(f"{source}: the file lists the layer {name!r} in "
                                    "`layer_names` but has no group for it; it is damaged.")
        lg = g[name]
        wnames = h5.read_string_list_attr(lg, "weight_names") or []
        arrays = [h5.read_array(lg, w, f"{source}, layer {name!r}") for w in wnames]
        layers.append(FileLayer(name, wnames, arrays))
    top = []
    if "top_level_model_weights" in g:
        tg = g["top_level_model_weights"]
        wnames = h5.read_string_list_attr(tg, "weight_names") or []
        top = [h5.read_array(tg, w, f"{source}, top-level weights") for w in wnames]
    return WeightFile("legacy", layers, version, backend, top, source)


def _child_order(key):
    # Keras 3 visits children in sorted attribute order with private names last;
    # a Bidirectional's forward weights come first in Keras's weight lists.
    rank = {"cell": 0, "forward_layer": 1, "backward_layer": 2, "layer": 3}
    return (rank.get(key, 4), key.startswith("_"), key)


def _collect_vars(group, where, path=""):
    """The arrays under ``group`` in Keras 3's order, with their paths below it."""
    found = []
    if "vars" in group:
        v = group["vars"]
        keys = sorted(v.keys(), key=lambda k: (0, int(k)) if k.isdigit() else (1, k))
        found.extend((f"{path}vars/{k}", h5.read_array(v, k, where)) for k in keys)
    children = [k for k in group.keys() if k != "vars" and isinstance(group[k], h5.h5py.Group)]
    for k in sorted(children, key=_child_order):
        found.extend(_collect_vars(group[k], where, f"{path}{k}/"))
    return found


def _read_keras3(f, source):
    layers = []
    for key in f["layers"].keys():
        g = f["layers"][key]
        name = None
        if "vars" in g:
            name = h5.read_text_attr(g["vars"], "name")
        found = _collect_vars(g, f"{source}, layers/{key}")
        arrays = [a for _, a in found]
        layers.append(FileLayer(name or key, [f"layers/{key}/{i}" for i in range(len(arrays))],
                                arrays, key=key, paths=[p for p, _ in found]))
    top = []
    if "vars" in f:
        v = f["vars"]
        top = [h5.read_array(v, k, source) for k in sorted(v.keys())]
    return WeightFile("keras3", layers, "3", None, top, source)


def read_weight_file(f, source="the file"):
    """Read every weight of an open HDF5 file into a :class:`WeightFile`."""
    try:
        g = _legacy_group(f)
        if g is not None:
            return _read_legacy(f, g, source)
        if "layers" in f and isinstance(f["layers"], h5.h5py.Group):
            return _read_keras3(f, source)
    except h5.SavedFileError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
        raise h5.SavedFileError(f"{source}: the HDF5 file could not be read; it is damaged "
                                f"({type(e).__name__}: {e}).") from e
    groups, bad_groups = h5.name_listing(f.keys())
    attrs, bad_attrs = h5.name_listing(f.attrs.keys())
    damaged = ""
    if bad_groups or bad_attrs:
        damaged = (f" The file is damaged: {len(bad_groups) + len(bad_attrs)} name(s) are not "
                   f"valid UTF-8 ({(bad_attrs + bad_groups)[:3]}). Save the weights again, or "
                   "use an intact copy.")
    raise h5.SavedFileError(
        f"{source} is an HDF5 file but holds no Keras weights: expected a `layer_names` "
        "attribute (gpuseq / Keras 1-2 save_weights), a `model_weights` group (whole-model "
        "files from save) or a `layers` group (Keras 3 .weights.h5). Found groups "
        f"{groups[:10]} and attributes {attrs[:10]}.{damaged}")


# ---------------------------------------------------------------------- conversions
class _Mismatch(Exception):
    pass


def _gate_arrays(names, arrays, gates, positional):
    """Arrays of a Keras 1 recurrent layer as {(kind, gate): array}, kind in W/U/b.

    Uses the names (``lstm_1_W_i``) when they say everything, else Keras 1's order.
    """
    found = {}
    for n, a in zip(names or (), arrays):
        parts = str(n).split(":")[0].replace("/", "_").split("_")
        if len(parts) >= 2 and parts[-2] in ("W", "U", "b") and parts[-1] in gates:
            found[(parts[-2], parts[-1])] = a
    if len(found) == len(arrays):
        return found
    return {(kind, gate): arrays[3 * i + j] for i, gate in enumerate(positional)
            for j, kind in enumerate(("W", "U", "b"))}


def _repack_keras1_rnn(arrays, names, gates, positional):
    """Keras 1's per-gate W_*, U_*, b_* arrays -> [kernel, recurrent_kernel, bias] with
    the gates side by side in ``gates`` order (LSTM: i|f|c|o; GRU: z|r|h)."""
    g = _gate_arrays(names, arrays, gates, positional)
    return [numpy.concatenate([g[(kind, gate)] for gate in gates], axis=-1)
            for kind in ("W", "U", "b")]


def _keras1_conv_kernel(layer, w, expected):
    """A Keras 1 convolution kernel in the Keras 2 layout (rows, cols, in, out)."""
    if len(expected) == 3 and w.ndim == 4:        # Convolution1D stored as a 2-D conv
        if w.shape[3] == 1 and w.shape[1] != 1:   # Keras 1.1: (filters, in, length, 1)
            w = numpy.transpose(w, (2, 3, 1, 0))
        return w[:, 0, :, :]
    if w.ndim in (4, 5) and w.ndim == len(expected):
        axes = tuple(range(2, w.ndim)) + (1, 0)   # (out, in, *k) -> (*k, in, out)
        moved = numpy.transpose(w, axes)
        if tuple(moved.shape) == tuple(expected) and (
                getattr(layer, "data_format", None) == "channels_first"
                or tuple(w.shape) != tuple(expected)):
            return moved
    return w


def _flip_spatial(w):
    """Theano's convolution flips the kernel; undo it on the spatial axes."""
    if not 3 <= w.ndim <= 5:
        return w
    return numpy.ascontiguousarray(w[(slice(None, None, -1),) * (w.ndim - 2)])


def _convert_cudnn(layer, fam, arrays):
    """Weights of a CuDNNLSTM / CuDNNGRU file for an LSTM / GRU(reset_after=True) layer,
    or the other way round, converted as Keras 2 converts them on load."""
    if fam not in ("LSTM", "GRU", "CuDNNLSTM", "CuDNNGRU") or len(arrays) != 3:
        return arrays
    kind = "lstm" if fam.endswith("LSTM") else "gru"
    gates, units = (4 if kind == "lstm" else 3), arrays[1].shape[0]
    file_cudnn = tuple(arrays[2].shape) == (2 * gates * units,)
    if fam.startswith("CuDNN"):
        standard = (gates * units,) if kind == "lstm" else (2, gates * units)
        return standard_to_cudnn(kind, arrays) if tuple(arrays[2].shape) == standard \
            else arrays
    if file_cudnn and (kind == "lstm" or getattr(layer, "reset_after", False)):
        return cudnn_to_standard(kind, arrays)
    return arrays


def _order_stacked_cells(layer, rec, arrays):
    """A Keras 3 file's stacked cells (``cell/cells/<key>/vars``, read in name order)
    in the order of the layer's cells."""
    cells = getattr(getattr(layer, "cell", None), "cells", None)
    if not cells or not rec.paths or len(rec.paths) != len(arrays):
        return arrays
    groups = {}
    for path, a in zip(rec.paths, arrays):
        parts = path.split("/")
        if parts[:2] != ["cell", "cells"] or len(parts) < 4:
            return arrays
        groups.setdefault(parts[2], []).append(a)
    keys = keras3_keys(cells)
    if set(groups) != set(keys):
        return arrays
    return [a for k in keys for a in groups[k]]


def convert_arrays(layer, rec, wf, reshape=False):
    """The file's arrays for ``layer`` in the layout gpuseq's layer uses."""
    arrays = [numpy.asarray(a) for a in rec.arrays]
    names = rec.weight_names
    fam = family(layer)
    expected = [tuple(p.shape) for p in layer.weights]
    if fam == "LSTM" and len(arrays) == 12 and len(expected) == 3:
        arrays = _repack_keras1_rnn(arrays, names, "ifco", "icfo")
    elif fam == "GRU" and len(arrays) == 9 and len(expected) == 3:
        arrays = _repack_keras1_rnn(arrays, names, "zrh", "zrh")
    arrays = _convert_cudnn(layer, fam, arrays)
    if fam == "RNN" and wf.fmt == "keras3":
        arrays = _order_stacked_cells(layer, rec, arrays)
    if fam in CONV_FAMILIES and arrays and expected:
        if wf.keras1:
            arrays[0] = _keras1_conv_kernel(layer, arrays[0], expected[0])
        if (wf.backend or "").lower() == "theano":
            arrays[0] = _flip_spatial(arrays[0])
            if fam == "ConvLSTM2D" and len(arrays) > 1:
                arrays[1] = _flip_spatial(arrays[1])
    if reshape:
        for i, (a, shp) in enumerate(zip(arrays, expected)):
            if tuple(a.shape) != shp and a.size == int(numpy.prod(shp)):
                arrays[i] = a.reshape(shp)
    return arrays


def _gru_hint(layer, exp, found):
    if len(exp) == 1 and found == (2, exp[0]):
        return (" The file holds a GRU bias of the reset_after=True form (2, 3*units), as "
                "Keras 3 and tf.keras write by default, but this layer has "
                "reset_after=False. Build it with GRU(..., reset_after=True).")
    if len(exp) == 2 and exp[0] == 2 and found == (exp[1],):
        return (" The file holds a GRU bias of the reset_after=False form (3*units,), as "
                "Keras 1 and Keras 2.2 write, but this layer has reset_after=True. Build it "
                "with GRU(..., reset_after=False).")
    if len(found) == 1 and found[0] == 2 * exp[-1]:
        return (" The file looks like a CuDNNGRU's (a flat bias of 6*units), which loads "
                "into GRU(..., reset_after=True) or CuDNNGRU, not into a GRU with "
                "reset_after=False.")
    return ""


def _fmt_shapes(arrays):
    return ", ".join(str(tuple(numpy.shape(a))) for a in arrays) or "none"


def check_arrays(layer, rec, arrays):
    """Cast ``arrays`` to the layer's dtypes; raise _Mismatch naming what differs."""
    params = layer.weights
    cls = type(layer).__name__
    if len(arrays) != len(params):
        raise _Mismatch(
            f"Layer '{layer.name}' ({cls}) has {len(params)} weight(s) "
            f"[{_fmt_shapes(params)}], but the file's layer '{rec.name}' holds "
            f"{len(arrays)} [{_fmt_shapes(arrays)}].")
    names = rec.weight_names if len(rec.weight_names) == len(arrays) else [None] * len(arrays)
    out = []
    for p, a, fname in zip(params, arrays, names):
        exp, found = tuple(p.shape), tuple(a.shape)
        if exp != found:
            hint = _gru_hint(layer, exp, found) if family(layer) == "GRU" else ""
            where = f"'{fname}' in the file's layer '{rec.name}'" if fname else \
                f"the file's layer '{rec.name}'"
            raise _Mismatch(
                f"Layer '{layer.name}' ({cls}): weight '{p.name}' expects shape {exp}, but "
                f"{where} holds shape {found}.{hint}")
        try:
            out.append(numpy.asarray(a).astype(p.data.dtype, copy=False))
        except (TypeError, ValueError) as e:
            raise _Mismatch(f"Layer '{layer.name}' ({cls}): weight '{p.name}' could not be "
                            f"converted from {a.dtype} to {p.data.dtype} ({e}).") from None
    return out


# ----------------------------------------------------------------------------- matching
def _pairs_legacy(layers, wf, by_name, skip_mismatch, problems):
    if by_name:
        index = {}
        for rec in wf.layers:
            index.setdefault(rec.name, rec)
        return [(layer, index[layer.name]) for layer in layers if layer.name in index]
    model_w = [layer for layer in layers if layer.weights]
    file_w = [rec for rec in wf.layers if rec.arrays]
    if len(model_w) != len(file_w):
        raise ValueError(
            f"You are trying to load a weight file ({wf.source}) containing {len(file_w)} "
            f"layers with weights into a model with {len(model_w)} layers with weights. "
            f"File: {[r.name for r in file_w]}; model: {[l.name for l in model_w]}. Build "
            "the same architecture, or load matching layers with by_name=True. The model "
            "was not changed.")
    return list(zip(model_w, file_w))


def _pairs_keras3(layers, wf, by_name, skip_mismatch, problems):
    if by_name:
        index = {rec.name: rec for rec in wf.layers}
        return [(layer, index[layer.name]) for layer in layers if layer.name in index]
    by_key = {rec.key: rec for rec in wf.layers}
    pairs, used = [], set()
    for layer, key in zip(layers, keras3_keys(layers)):
        rec = by_key.get(key)
        if rec is None:
            if layer.weights:
                problems.append(f"Layer '{layer.name}' ({type(layer).__name__}) has weights, "
                                f"but the file has no entry layers/{key}.")
            continue
        used.add(key)
        pairs.append((layer, rec))
    extra = [rec.key for rec in wf.layers if rec.key not in used and rec.arrays]
    if extra:
        problems.append(f"The file holds weights for layers/{', layers/'.join(extra)}, which "
                        "the model has no layer for.")
    return pairs


def load_weight_file(model, wf, by_name=False, skip_mismatch=False, reshape=False):
    """Assign the weights of ``wf`` to ``model``; nothing is assigned unless all fit."""
    _require_built(model, "load_weights")
    layers = weight_layers(model)
    problems = []
    if wf.fmt == "keras3":
        pairs = _pairs_keras3(layers, wf, by_name, skip_mismatch, problems)
    else:
        pairs = _pairs_legacy(layers, wf, by_name, skip_mismatch, problems)
    if wf.top_level:
        problems.append(f"The file holds {len(wf.top_level)} model-level weight(s) "
                        "(top_level_model_weights); a Sequential model has none.")
    plan = []
    for layer, rec in pairs:
        try:
            arrays = check_arrays(layer, rec, convert_arrays(layer, rec, wf, reshape))
        except _Mismatch as e:
            problems.append(str(e))
            continue
        plan.append((layer, arrays))
    if problems:
        if not skip_mismatch:
            raise ValueError(
                f"Could not load the weights of {wf.source} into model '{model.name}':\n  "
                + "\n  ".join(problems)
                + "\nNo weight was changed. Build the model with the configuration the "
                  "weights were saved from, or pass by_name=True, skip_mismatch=True to "
                  "load only the layers that match.")
        for msg in problems:
            warnings.warn(f"Skipping weights from {wf.source}: {msg}", stacklevel=3)
    for layer, arrays in plan:
        for p, a in zip(layer.weights, arrays):
            p.assign(a)
    return [layer for layer, _ in plan]


def load_weights(model, filepath, by_name=False, skip_mismatch=False, reshape=False):
    """Load weights from a gpuseq or Keras HDF5 file into ``model`` (see module doc).

    Args:
        model: a built model.
        filepath: path or an open ``h5py.File``.
        by_name: match layers by name instead of by order; layers without a
            match in the file are left as they are.
        skip_mismatch: warn about and skip layers whose weights do not fit
            (count or shape) instead of raising.
        reshape: reshape arrays whose shape differs but whose size fits.

    Raises:
        ValueError: a layer's weights do not fit (the error names the layer, the
            expected and the found shapes); the model is unchanged.
        FileNotFoundError / SavedFileError: the file is missing or unreadable.
    """
    _require_built(model, "load_weights")
    source = repr(str(filepath)) if not h5.is_h5_object(filepath) else \
        repr(getattr(filepath.file, "filename", "h5py object"))
    with h5.open_h5_for_read(filepath, "load_weights") as f:
        wf = read_weight_file(f, source)
    return load_weight_file(model, wf, by_name, skip_mismatch, reshape)
