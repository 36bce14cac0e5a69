"""The zoo's layers: cells, recurrent structures, time reduction, pooling,
convolutions.

Written with `keras.ops` only, so they run on the TensorFlow, JAX and
PyTorch backends. Every layer is registered for serialization under the
package name "zoo".
"""

from zoo.layers.bidirectional import Bidirectional
from zoo.layers.convolution import MaskedConv1D
from zoo.layers.embedding import TokenEmbedding
from zoo.layers.gradient_reversal import GradientReversal
from zoo.layers.gru import GRU
from zoo.layers.gru import GRUCell
from zoo.layers.lstm import LSTM
from zoo.layers.lstm import VARIANTS as LSTM_VARIANTS
from zoo.layers.lstm import LSTMCell
from zoo.layers.naive_bayes import NaiveBayesBag
from zoo.layers.naive_rnn import NaiveRNN
from zoo.layers.naive_rnn import NaiveRNNCell
from zoo.layers.nas import NAS
from zoo.layers.nas import NASCell
from zoo.layers.pooling import GlobalMaskedAveragePooling1D
from zoo.layers.pooling import GlobalMaskedMaxPooling1D
from zoo.layers.pooling import L2Pooling1D
from zoo.layers.pooling import LpPooling1D
from zoo.layers.pooling import MaskedAveragePooling1D
from zoo.layers.pooling import MaskedMaxPooling1D
from zoo.layers.pyramid import PyramidRNN
from zoo.layers.recurrent import RecurrentLayer
from zoo.layers.recurrent_cell import RecurrentCell
from zoo.layers.region_embedding import MODES as REGION_MODES
from zoo.layers.region_embedding import RegionEmbedding
from zoo.layers.stacked import StackedRNN
from zoo.layers.time_frequency import TimeFrequencyConv
from zoo.layers.time_reduction import TimeReduction
from zoo.layers.vocabulary_clip import VocabularyClip

__all__ = [
    "Bidirectional",
    "GRU",
    "GradientReversal",
    "GRUCell",
    "GlobalMaskedAveragePooling1D",
    "GlobalMaskedMaxPooling1D",
    "L2Pooling1D",
    "LSTM",
    "LSTMCell",
    "LSTM_VARIANTS",
    "LpPooling1D",
    "MaskedAveragePooling1D",
    "MaskedConv1D",
    "MaskedMaxPooling1D",
    "NAS",
    "NASCell",
    "NaiveBayesBag",
    "NaiveRNN",
    "NaiveRNNCell",
    "PyramidRNN",
    "RecurrentCell",
    "RecurrentLayer",
    "REGION_MODES",
    "RegionEmbedding",
    "StackedRNN",
    "TimeFrequencyConv",
    "TimeReduction",
    "TokenEmbedding",
    "VocabularyClip",
]
