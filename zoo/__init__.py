"""seqzoo: recurrent and convolutional sequence models for Keras 3.

The public API:

    import zoo
    model = zoo.build("pyramid_lstm", feature_dim=80, head="sequence")
    zoo.list_models("*lstm")
    zoo.describe("cifg_lstm")

Layers live in `zoo.layers`; the builders in `zoo.models`.
"""

from zoo import features  # registers the audio front end for .keras loads
from zoo import layers
from zoo import models
from zoo import text  # registers the text standardization for .keras loads
from zoo.registry import build
from zoo.registry import describe
from zoo.registry import is_model
from zoo.registry import list_models
from zoo.registry import register_model

__version__ = "0.1.0"

__all__ = [
    "build",
    "describe",
    "features",
    "is_model",
    "layers",
    "list_models",
    "models",
    "register_model",
    "text",
]
