"""Bad-input rows: a small compiled model that each row may try to damage."""
import numpy as np
import pytest

from gpuseq.layers import Dense
from gpuseq.models import Sequential


@pytest.fixture
def model():
    np.random.seed(0)
    m = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    m.compile("adam", "mse")
    m.train_on_batch(np.ones((2, 3), "float32"), np.ones((2, 2), "float32"))
    return m
