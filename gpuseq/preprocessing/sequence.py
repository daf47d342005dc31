"""Sequence utilities: ``pad_sequences`` (Keras ``keras.preprocessing.sequence``)."""
import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or cut) a list of sequences to one length, giving a 2-D array.

    Args:
        sequences: a list of sequences (lists or arrays of ids; each element may itself
            be an array of a fixed shape, giving an array of more dimensions).
        maxlen: the length of the result; None = the longest sequence.
        dtype: dtype of the result (Keras's default 'int32').
        padding: 'pre' (pad at the start, the default) or 'post'.
        truncating: 'pre' (drop the start of longer sequences, the default) or 'post'.
        value: the padding value.

    Output shape:
        ``(len(sequences), maxlen) + element shape``.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be a list of sequences (of ids). Received: "
                         f"sequences of type {type(sequences).__name__}")
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post'. Received: padding={padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError("truncating must be 'pre' or 'post'. Received: "
                         f"truncating={truncating!r}")
    lengths, elem_shape = [], None
    for s in sequences:
        if not hasattr(s, "__len__"):
            raise ValueError("`sequences` must be a list of iterables (one sequence of ids "
                             f"per sample). Found a non-iterable element: {s!r}")
        lengths.append(len(s))
        if elem_shape is None and len(s):
            elem_shape = np.asarray(s).shape[1:]
    elem_shape = elem_shape or ()
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive integer or None. Received: maxlen={maxlen!r}")
    kind = np.dtype(dtype).kind
    if isinstance(value, str) and kind not in "OUS":
        raise ValueError(f"The padding value {value!r} is a string but dtype={dtype!r} is not: "
                         "pass dtype=object (or a string dtype) to pad with text.")
    out = np.full((len(lengths), int(maxlen)) + tuple(elem_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != tuple(elem_shape):
            raise ValueError(f"Sequence {i} has elements of shape {kept.shape[1:]}, but the "
                             f"first non-empty sequence's elements have shape "
                             f"{tuple(elem_shape)}: every element must have the same shape.")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out
