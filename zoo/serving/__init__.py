"""A server speaking TensorFlow Serving's REST API over saved_models/.

    zoo serve saved_models            # or: python -m zoo.serving saved_models
    curl -d '{"instances": ["a great movie"]}' \
        localhost:8501/v1/models/imdb:predict

The server loads SavedModels with `tf.saved_model.load` only (it never
imports the zoo's layers), batches concurrent requests, reloads new versions
without restart, and exposes Prometheus metrics. See the Serving section
of README.md.
"""

from zoo.serving.server import add_arguments
from zoo.serving.server import main
from zoo.serving.server import run_from_args
from zoo.serving.server import serve

__all__ = ["add_arguments", "main", "run_from_args", "serve"]
