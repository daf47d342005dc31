"""Data preparation utilities of the Keras 2 era: ``sequence.pad_sequences`` and the
``text`` tokenizer (``Tokenizer``, ``text_to_word_sequence``, ``one_hot``,
``hashing_trick``)."""
from . import sequence, text  # noqa: F401
