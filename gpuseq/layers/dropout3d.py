"""SpatialDropout3D: dropout of whole 3-D feature maps."""
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from .conv_utils import normalize_data_format
from .core import Dropout

_SPATIAL_DROPOUT_3D_KERAS1 = Keras1Arguments(
    renames={"p": "rate", "dim_ordering": "data_format"}, values={"dim_ordering": DIM_ORDERING})


@keras1_arguments(_SPATIAL_DROPOUT_3D_KERAS1)
class SpatialDropout3D(Dropout):
    """Dropout of whole 3-D feature maps: one mask value per (sample, channel) for
    every voxel (neighbouring voxels are strongly correlated, so element-wise dropout
    regularises little). Kept channels are scaled by 1 / (1 - rate); identity at
    inference.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        seed: optional integer seed.
        Keras 1 (``SpatialDropout3D(p, dim_ordering='th'|'tf')``) is accepted and
        converted, with a warning naming the modern call.

    Input shape: (batch, depth, rows, cols, channels) (or channels first). Output: same.

    Example:
        >>> model.add(SpatialDropout3D(0.2))   # (None, 2, 8, 8, 16) -> (None, 2, 8, 8, 16)
    """

    def __init__(self, rate=None, data_format=None, **kwargs):
        if "noise_shape" in kwargs:
            raise TypeError("SpatialDropout3D takes no `noise_shape`: it drops whole "
                            "channels. Use Dropout(rate, noise_shape=...) for another mask.")
        super().__init__(rate, **kwargs)
        self.data_format = normalize_data_format(data_format, "SpatialDropout3D")
        # one mask value per (sample, channel), broadcast over the volume
        self.noise_shape = (None, 1, 1, 1, None) if self.data_format == "channels_last" \
            else (None, None, 1, 1, 1)

    def build(self, input_shape):
        if input_shape is None or len(input_shape) != 5:
            raise ValueError(f"Layer '{self.name}' (SpatialDropout3D) expects 5-D input "
                             "(batch, depth, rows, cols, channels) or channels first, but "
                             f"received input of shape {input_shape}.")
        self.built = True

    def get_config(self):
        """The entries every Keras version's SpatialDropout3D accepts (Keras 3 refuses
        ``trainable`` and ``noise_shape`` there)."""
        cfg = {"name": self.name, "dtype": self.dtype, "rate": self.rate, "seed": self.seed,
               "data_format": self.data_format}
        if self.batch_input_shape is not None:
            cfg["batch_input_shape"] = tuple(self.batch_input_shape)
        return cfg
