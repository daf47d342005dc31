"""Keras 1 layer names that Keras 2 still accepted, as thin subclasses of the Keras 2
layers they build.

``AtrousConvolution1D(nb_filter, filter_length, atrous_rate=r, ...)`` and
``AtrousConvolution2D(nb_filter, nb_row, nb_col, atrous_rate=(r, r), ...)`` are Conv1D
and Conv2D with ``dilation_rate``. As in Keras 2 (where these names were functions
returning the modern layer), calling the class converts the Keras 1 arguments with the
modern layer's Keras 1 table, warns once with the modern call, e.g.::

    UserWarning: Update your `AtrousConvolution1D` call to the Keras 2 API:
    `Conv1D(32, 3, dilation_rate=2)`

and returns a Conv1D / Conv2D: the layer's type, default name, summary line and saved
config (``"class_name": "Conv1D"``) are those of the modern layer, so files move to
and from Keras 2 unchanged. Configs that name the old class (Keras 1 files) are read
through :meth:`from_config` into the modern layer.
"""
from ..legacy import positional_params
from .convolutional import Conv1D, Conv2D


class _KerasOneName:
    """A Keras 1 class name whose calls build ``modern_class`` (set by subclasses,
    together with their Keras 1 table ``keras1_arguments``)."""

    modern_class = None

    def __new__(cls, *args, **kwargs):
        modern = cls.modern_class
        args, kwargs = cls.keras1_arguments.convert(
            cls.__name__, positional_params(modern.__init__), args, kwargs)
        return modern(*args, **kwargs)

    @classmethod
    def from_config(cls, config):
        """The modern layer from a saved config (Keras 1 entries converted by its own
        Keras 1 table)."""
        return cls.modern_class.from_config(config)


class AtrousConvolution1D(_KerasOneName, Conv1D):
    """Keras 1's dilated 1-D convolution: returns ``Conv1D(..., dilation_rate=atrous_rate)``.

    Args:
        nb_filter / filters, filter_length / kernel_size: as in Conv1D.
        atrous_rate: the dilation rate (Keras 2: ``dilation_rate``), default 1.
        Every other Keras 1 or Keras 2 argument of Conv1D (``border_mode``,
        ``subsample_length``, ``init``, ``W_regularizer``, ...), converted as Conv1D
        converts it.

    Returns a Conv1D, with a warning naming the modern call.

    Example:
        >>> layer = AtrousConvolution1D(32, 3, atrous_rate=2, border_mode='same')
        >>> type(layer).__name__, layer.dilation_rate, layer.padding
        ('Conv1D', (2,), 'same')
    """

    modern_class = Conv1D
    keras1_arguments = Conv1D.keras1_arguments.alias("Conv1D", shown=("dilation_rate",))


class AtrousConvolution2D(_KerasOneName, Conv2D):
    """Keras 1's dilated 2-D convolution: returns ``Conv2D(..., dilation_rate=atrous_rate)``.

    Args:
        nb_filter / filters; nb_row, nb_col / kernel_size: as in Conv2D.
        atrous_rate: the dilation rate, an int or (rows, cols) (Keras 2:
            ``dilation_rate``), default (1, 1).
        Every other Keras 1 or Keras 2 argument of Conv2D (``border_mode``,
        ``subsample``, ``dim_ordering``, ``init``, ...), converted as Conv2D converts it.

    Returns a Conv2D, with a warning naming the modern call.

    Example:
        >>> layer = AtrousConvolution2D(16, 3, 3, atrous_rate=(2, 2), input_shape=(28, 28, 1))
        >>> type(layer).__name__, layer.kernel_size, layer.dilation_rate
        ('Conv2D', (3, 3), (2, 2))
    """

    modern_class = Conv2D
    keras1_arguments = Conv2D.keras1_arguments.alias("Conv2D", shown=("dilation_rate",))


# Keras 2's short names of the same functions
AtrousConv1D = AtrousConvolution1D
AtrousConv2D = AtrousConvolution2D
