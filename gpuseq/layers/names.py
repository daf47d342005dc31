"""Class-name tables shared by the weight and config readers.

Keras renamed several layers between versions (``Convolution2D`` became
``Conv2D``, ``MaxPool2D`` is an alias of ``MaxPooling2D``, ...). Files and
configs may use any of them; gpuseq registers its own names.
"""
import re

# Keras 1 / Keras 2 alias / Keras 3 class name -> the Keras 2 name gpuseq registers.
LAYER_ALIASES = {
    "Convolution1D": "Conv1D",
    "Convolution2D": "Conv2D",
    "Convolution3D": "Conv3D",
    "AtrousConvolution1D": "Conv1D",
    "AtrousConvolution2D": "Conv2D",
    "Deconvolution2D": "Conv2DTranspose",
    "Deconv2D": "Conv2DTranspose",
    "Deconvolution3D": "Conv3DTranspose",
    "Deconv3D": "Conv3DTranspose",
    "SeparableConvolution1D": "SeparableConv1D",
    "SeparableConvolution2D": "SeparableConv2D",
    "DepthwiseConvolution2D": "DepthwiseConv2D",
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
}

# Layer families whose weight files need conversions or special layouts.
CONV_FAMILIES = ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Conv3DTranspose",
                 "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D", "ConvLSTM2D")
RNN_FAMILIES = ("SimpleRNN", "LSTM", "GRU")
_FAMILIES = set(CONV_FAMILIES) | set(RNN_FAMILIES) | {
    "Bidirectional", "TimeDistributed", "BatchNormalization", "CuDNNLSTM", "CuDNNGRU", "RNN"}


def canonical_class_name(name):
    """The Keras 2 name of a layer class name from any Keras version."""
    return LAYER_ALIASES.get(name, name)


def family(layer):
    """The Keras family of a layer ('LSTM', 'Conv2D', ...), following its base classes,
    or None. Subclasses of LSTM count as LSTM."""
    for cls in type(layer).__mro__:
        name = canonical_class_name(cls.__name__)
        if name in _FAMILIES:
            return name
    return None


def keras_snake_case(name):
    """Keras 3's snake case of a class name (``MaxPooling2D`` -> ``max_pooling2d``),
    used for the group names of ``.weights.h5`` files."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras3_keys(layers):
    """Group names Keras 3 gives these layers in ``layers/``: the snake-case class
    name, then ``_1``, ``_2``, ... for later layers of the same class."""
    used, keys = {}, []
    for layer in layers:
        base = keras_snake_case(canonical_class_name(type(layer).__name__))
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys
