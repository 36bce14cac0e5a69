"""Shared fixtures: quiet TensorFlow, a fixed seed, tiny random data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def seed():
    """Every test starts from the same seed."""
    keras.utils.set_random_seed(1234)
    return 1234


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def masks():
    """Right-padded, left-padded, full and fully masked rows, [4, 7]."""
    return np.array(
        [
            [1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 1, 1],
            [0, 0, 0, 0, 0, 0, 0],
        ],
        dtype=bool,
    )
