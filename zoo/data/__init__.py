"""TensorFlow/TFDS input pipelines: IMDB, FSDD and connected digits."""

from zoo.data.connected_digits import ConnectedDigits
from zoo.data.connected_digits import SynthesisConfig
from zoo.data.connected_digits import Utterance
from zoo.data.connected_digits import make_connected_digits
from zoo.data.epochs import EpochDataset
from zoo.data.errors import DataError
from zoo.data.fsdd import FsddInfo
from zoo.data.fsdd import FsddSplits
from zoo.data.fsdd import Recording
from zoo.data.fsdd import load_fsdd
from zoo.data.fsdd import load_fsdd_recordings
from zoo.data.imdb import ImdbInfo
from zoo.data.imdb import ImdbSplits
from zoo.data.imdb import load_imdb

__all__ = [
    "ConnectedDigits",
    "DataError",
    "EpochDataset",
    "FsddInfo",
    "FsddSplits",
    "ImdbInfo",
    "ImdbSplits",
    "Recording",
    "SynthesisConfig",
    "Utterance",
    "load_fsdd",
    "load_fsdd_recordings",
    "load_imdb",
    "make_connected_digits",
]
