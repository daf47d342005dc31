"""Keras 2's ``keras.utils.layer_utils``: `print_summary` and `count_params`."""
import numpy as np

__all__ = ["print_summary", "count_params"]


def count_params(weights):
    """The number of scalars in `weights` (each distinct weight counted once).

    Example:
        >>> count_params(model.trainable_weights)  # doctest: +SKIP
        2570
    """
    unique = {id(w): w for w in weights}.values()
    return int(sum(int(np.prod(w.shape)) for w in unique))


def print_summary(model, line_length=None, positions=None, print_fn=None):
    """Prints the model's layer table, as `model.summary()` does.

    Args:
        model: a built model.
        line_length: width of the table (default 65).
        positions: column boundaries (fractions of `line_length` or absolute).
        print_fn: function called with each line (default `print`).
    """
    return model.summary(line_length=line_length or 65, positions=positions,
                         print_fn=print_fn)
