"""Keras layers: ``from gpuseq.layers import Dense, Dropout, Activation, ...``."""
from .base import Layer  # noqa: F401
from .input_layer import Input, InputLayer  # noqa: F401
from .input_spec import InputSpec  # noqa: F401
from .core import (Activation, ActivityRegularization, Dense, Dropout, Flatten,  # noqa: F401
                   Lambda, Masking, Permute, RepeatVector, Reshape, SpatialDropout1D,
                   SpatialDropout2D)
from .advanced_activations import (ELU, LeakyReLU, PReLU, ReLU, Softmax,  # noqa: F401
                                   ThresholdedReLU)
from .noise import AlphaDropout, GaussianDropout, GaussianNoise  # noqa: F401
from .merge import Merge  # noqa: F401
from .normalization import BatchNormalization  # noqa: F401
# convolution and pooling layers
from .convolutional import (Conv1D, Conv2D, Convolution1D, Convolution2D,  # noqa: F401
                            Cropping1D, Cropping2D, UpSampling1D, UpSampling2D,
                            ZeroPadding1D, ZeroPadding2D)
from .convolutional_transpose import (Conv2DTranspose, Convolution2DTranspose,  # noqa: F401
                                      Deconv2D, Deconvolution2D)
from .separable import (DepthwiseConv2D, SeparableConv1D, SeparableConv2D,  # noqa: F401
                        SeparableConvolution1D, SeparableConvolution2D)
from .pooling import (AveragePooling1D, AveragePooling2D, AvgPool1D, AvgPool2D,  # noqa: F401
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPooling1D,
                      GlobalMaxPooling2D, MaxPool1D, MaxPool2D, MaxPooling1D, MaxPooling2D)
# volume (3-D) layers
from .convolutional3d import (Conv3D, Conv3DTranspose, Convolution3D,  # noqa: F401
                              Convolution3DTranspose, Cropping3D, Deconv3D, Deconvolution3D,
                              UpSampling3D, ZeroPadding3D)
from .pooling3d import (AveragePooling3D, AvgPool3D, GlobalAveragePooling3D,  # noqa: F401
                        GlobalAvgPool3D, GlobalMaxPool3D, GlobalMaxPooling3D, MaxPool3D,
                        MaxPooling3D)
from .dropout3d import SpatialDropout3D  # noqa: F401
from .local import LocallyConnected1D, LocallyConnected2D  # noqa: F401
# Keras 1 names that build Keras 2 layers
from .legacy_aliases import (AtrousConv1D, AtrousConv2D, AtrousConvolution1D,  # noqa: F401
                             AtrousConvolution2D)
# recurrent layers, embeddings and wrappers
from .embeddings import Embedding  # noqa: F401
from .recurrent import GRU, LSTM, Recurrent, SimpleRNN  # noqa: F401
from .convolutional_recurrent import ConvLSTM2D  # noqa: F401
from .cudnn_recurrent import CuDNNGRU, CuDNNLSTM  # noqa: F401
from .recurrent_cells import (RNN, GRUCell, LSTMCell, SimpleRNNCell,  # noqa: F401
                              StackedRNNCells)
from .wrappers import Bidirectional, TimeDistributed, Wrapper  # noqa: F401

from .serialization import REGISTRY as _REGISTRY  # noqa: F401  (class name -> class)
from .serialization import deserialize_layer, register, register_exported

register(Layer, Dense, Activation, Dropout, Flatten, Reshape, Permute,
         RepeatVector, Lambda, ActivityRegularization, Masking, Merge, BatchNormalization,
         SpatialDropout1D, SpatialDropout2D, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax,
         ReLU, GaussianNoise, GaussianDropout, AlphaDropout)
# register convolution and pooling layers
register(Conv1D, Conv2D, ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D, UpSampling1D,
         UpSampling2D, MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D,
         GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalAveragePooling2D)
register(Conv3D, Conv3DTranspose, ZeroPadding3D, Cropping3D, UpSampling3D, MaxPooling3D,
         AveragePooling3D, GlobalMaxPooling3D, GlobalAveragePooling3D, SpatialDropout3D)
register(Conv2DTranspose, DepthwiseConv2D, SeparableConv1D, SeparableConv2D)
register(LocallyConnected1D, LocallyConnected2D)
# register recurrent layers, embeddings and wrappers
register(Embedding, SimpleRNN, LSTM, GRU, TimeDistributed, Bidirectional)
register(RNN, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells, CuDNNLSTM, CuDNNGRU,
         ConvLSTM2D)


register_exported(globals())


def deserialize(config, custom_objects=None):
    """A layer from ``{'class_name': ..., 'config': {...}}`` (any Keras version's form)."""
    return deserialize_layer(config, custom_objects=custom_objects)
