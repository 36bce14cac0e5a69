"""A pretrained, speaker-independent front end: Google's speech embedding.

Lin et al. (ICASSP 2020) trained a keyword-spotting embedding on a large
multi-speaker corpus: 32 log-mel bands (10 ms frames of 16 kHz audio; the
filters span ~60 Hz to 3.8 kHz), a window of 76 frames (0.775 s) -> a
96-dimensional vector, one every 8 frames (80 ms). Learnt from many
voices, its vectors say which word was spoken more than who spoke it,
which our five FSDD speakers cannot teach a model
(bench/results/spoken_digits_loso_speech_embedding.md).

`SpeechEmbeddingFrontEnd` computes it inside a Keras model from raw
**8 kHz** audio with `keras.ops` and Keras layers only, so an exported
SavedModel takes the same waveforms as the recipes' other models. The
network's weights come from the ONNX copy that PyPI's `openwakeword` 0.5.1
bundles (Apache-2.0; `zoo.pretrained_speech_embedding` loads them); the
layer itself starts with zero front-end weights and random convolutions.

Why 8 kHz works: the model's mel filters end at 3.8 kHz, below 8 kHz
audio's Nyquist frequency. For audio upsampled from 8 kHz (band-limited
to 4 kHz), the model's 512-point, 16 kHz STFT sums over even and odd taps
that contribute about equally, so below 4 kHz it is twice the 256-point,
8 kHz STFT whose kernels are the even taps of the 16 kHz ones. The layer
keeps those taps and scales the power by 4. Against the ONNX model fed
`scipy.signal.resample_poly(x, 2, 1)`, every embedding has a cosine
similarity above 0.9999 and every value lies within 1 % of the largest
(tests/test_speech_embedding.py).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.features import valid_length
from zoo.layers import validation

SAMPLE_RATE = 8000
FFT_LENGTH = 256  # 32 ms at 8 kHz: the model's 512 points at 16 kHz
FRAME_STEP = 80  # 10 ms
FREQUENCY_BINS = FFT_LENGTH // 2 + 1
MEL_BANDS = 32
WINDOW_FRAMES = 76  # frames per embedding
WINDOW_STEP = 8  # frames between embeddings (80 ms)
EMBEDDING_DIM = 96
# The model's log-mel: 10·log10(max(power, 1e-10)), floored 80 dB below
# the utterance's peak, then x / 10 + 2 (openwakeword's input scaling).
POWER_FLOOR = 1e-10
TOP_DB = 80.0
# Audio is scaled to this RMS, in int16 counts (about -21 dBFS), the
# range the model was fed; the embedding is then gain-independent.
TARGET_RMS = 3000.0
# An utterance is centred in an extent of at least `margin` samples of
# silence on each side (default 0.1 s) and 1.28 s in all (7 embeddings).
MARGIN = 800
MIN_EXTENT = 10240
LEAK = 0.2
FLOOR = -0.4  # the network clips every activation below at -0.4
# The convolutions (time, frequency kernel; output maps), in order; "P"
# marks max pooling (time, frequency). Frequency kernels of 3 are padded
# to keep the bands, time kernels are not: 76 frames x 32 bands shrink to
# 1 x 1 with 96 maps.
ARCHITECTURE = (
    ((3, 3), 24),
    ((1, 3), 24),
    ((3, 1), 24),
    "P22",
    ((1, 3), 48),
    ((3, 1), 48),
    ((1, 3), 48),
    ((3, 1), 48),
    "P12",
    ((1, 3), 72),
    ((3, 1), 72),
    ((1, 3), 72),
    ((3, 1), 72),
    "P22",
    ((1, 3), 96),
    ((3, 1), 96),
    ((1, 3), 96),
    ((3, 1), 96),
    "P12",
    ((1, 3), 96),
    ((3, 1), 96),
    ((1, 3), 96),
    ((3, 1), 96),
    "P22",
    ((3, 1), 96),  # the embedding: no bias, no activation
)


def _pads_frequency(layer) -> bool:
    """Whether `layer` is a convolution with a frequency kernel of 3, which
    the network pads by one band on each side (time is never padded)."""
    return layer.name.startswith("conv_") and layer.kernel_size[1] == 3


def standardisation(embeddings) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ), float32 [96] each: the per-dimension mean and standard
    deviation of raw embeddings [n, 96], σ floored at 1e-3."""
    embeddings = np.asarray(embeddings, np.float64).reshape(-1, EMBEDDING_DIM)
    if not len(embeddings):
        raise ValueError("the standardisation needs at least one embedding")
    mean = embeddings.mean(0).astype(np.float32)
    return mean, np.maximum(embeddings.std(0), 1e-3).astype(np.float32)


@keras.saving.register_keras_serializable(package="zoo")
class SpeechEmbeddingFrontEnd(keras.layers.Layer):
    """8 kHz audio -> the speech embedding, one 96-d vector per 80 ms.

    For a right-zero-padded waveform x of valid length n (one past its last
    non-zero sample):

        a       = x · TARGET_RMS / rms(x[:n])            (int16-like scale)
        E       = max(n + 2·margin, 10240)             (the extent)
        a'      = a[:n] centred in E zeros
        P[t, k] = 4 · |Σ_j w[j] a'[80t + j] e^(-2πi kj/256)|²  (k <= 128)
        L[t, m] = 10 · log10(max(Σ_k P[t, k] W[k, m], 1e-10))
        L'      = max(L, max(L) - 80) / 10 + 2
        e[i]    = (f(L'[8i : 8i + 76]) - μ) / σ          (the network)

    w and W are the model's window and mel matrix (non-trainable weights),
    f its 20 convolutions, μ and σ a standardisation per dimension that
    `adapt` fits to training data (0 and 1 until then); window i is valid
    while it lies inside the utterance's extent E, and invalid windows
    come out exactly zero (the zoo's `inputs="features"` builders mask
    them). All-zero audio has no valid window.

    The weights are frozen (`trainable=False` by default): fine-tuning on
    five speakers would unlearn the invariance the layer exists for.

    Args:
        margin: the fewest samples of silence put before and after each
            utterance (default 800, 0.1 s). Windows are 0.775 s long, so a
            word at an edge sits off-centre in every window that holds
            it; ~3100 (half a window) centres a window on each edge.

    Call arguments:
        inputs: float32 [batch, samples], 8 kHz, in [-1, 1], right-zero-
            padded.

    Output shape:
        [batch, windows, 96], windows = (frames - 76) // 8 + 1 over the
        padded batch.

    Example:
        >>> front_end = SpeechEmbeddingFrontEnd()
        >>> tuple(front_end(keras.ops.zeros((2, 8000))).shape)
        (2, 7, 96)

    Reference:
        Lin, Kilgour, Roblek, Sharifi. "Training keyword spotters with
        limited and synthesized speech data." ICASSP 2020.
    """

    feature_dim = EMBEDDING_DIM

    def __init__(self, margin: int = MARGIN, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.margin = validation.non_negative_int("margin", margin)
        self.network = []
        for index, step in enumerate(ARCHITECTURE):
            if isinstance(step, str):
                pool = (int(step[1]), int(step[2]))
                self.network.append(
                    keras.layers.MaxPooling2D(pool, name=f"pool_{index}")
                )
                continue
            kernel, filters = step
            last = index == len(ARCHITECTURE) - 1
            self.network.append(
                keras.layers.Conv2D(
                    filters,
                    kernel,
                    use_bias=not last,
                    name=f"conv_{index}",
                )
            )
        # `trainable` was set before these sublayers existed, and Keras
        # hands it down only when it changes: without this, a model holding
        # the frozen front end would train its convolutions.
        for layer in self.network:
            layer.trainable = self.trainable

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "SpeechEmbeddingFrontEnd expects mono audio shaped [batch, "
                f"samples], got an input of shape {tuple(input_shape)}"
            )
        self.stft_kernel = self.add_weight(
            name="stft_kernel",
            shape=(FFT_LENGTH, 1, 2 * FREQUENCY_BINS),
            initializer="zeros",
            trainable=False,
        )
        self.mel_matrix = self.add_weight(
            name="mel_matrix",
            shape=(FREQUENCY_BINS, MEL_BANDS),
            initializer="zeros",
            trainable=False,
        )
        # Per-dimension standardisation of the embeddings, fit by `adapt`
        # on training data (the raw vectors range over about ±60).
        self.feature_mean = self.add_weight(
            name="feature_mean",
            shape=(EMBEDDING_DIM,),
            initializer="zeros",
            trainable=False,
        )
        self.feature_scale = self.add_weight(
            name="feature_scale",
            shape=(EMBEDDING_DIM,),
            initializer="ones",
            trainable=False,
        )
        shape = (None, WINDOW_FRAMES, MEL_BANDS, 1)
        for layer in self.network:
            if _pads_frequency(layer):
                shape = (shape[0], shape[1], shape[2] + 2, shape[3])
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def log_mel(self, inputs):
        """[batch, samples] audio -> (L' [batch, frames, 32], valid
        windows int32 [batch])."""
        inputs = ops.cast(inputs, "float32")
        length = valid_length(inputs)
        samples = ops.shape(inputs)[1]
        weights = ops.cast(
            ops.arange(samples, dtype="int32")[None, :] < length[:, None],
            "float32",
        )
        power = ops.sum(ops.square(inputs) * weights, axis=1, keepdims=True)
        mean_power = power / ops.maximum(
            ops.cast(length, "float32")[:, None], 1.0
        )
        scaled = inputs * (TARGET_RMS * ops.rsqrt(mean_power + 1e-12))
        # Each utterance is centred in its extent (the windows of a short
        # word then all hold all of it, as the model was trained): output
        # position t reads input sample t - shift, zero outside [0, n).
        extent = ops.maximum(length + 2 * self.margin, MIN_EXTENT)
        shift = (extent - length) // 2
        if isinstance(samples, int):  # static: JAX needs a Python int
            total = max(samples + 2 * self.margin, MIN_EXTENT)
        else:
            total = ops.maximum(samples + 2 * self.margin, MIN_EXTENT)
        source = ops.arange(total, dtype="int32")[None, :] - shift[:, None]
        inside = ops.logical_and(source >= 0, source < length[:, None])
        padded = ops.take_along_axis(
            scaled, ops.clip(source, 0, ops.maximum(samples - 1, 0)), axis=1
        ) * ops.cast(inside, "float32")
        spectrum = ops.conv(
            padded[:, :, None], self.stft_kernel, strides=FRAME_STEP
        )
        real = spectrum[..., :FREQUENCY_BINS]
        imaginary = spectrum[..., FREQUENCY_BINS:]
        power = 4.0 * (ops.square(real) + ops.square(imaginary))
        mel = ops.maximum(ops.matmul(power, self.mel_matrix), POWER_FLOOR)
        decibels = 10.0 * ops.log(mel) / np.log(10.0)
        peak = ops.max(decibels, axis=(1, 2), keepdims=True)
        decibels = ops.maximum(decibels, peak - TOP_DB)
        return decibels / 10.0 + 2.0, self.frames_of_length(length)

    def embed(self, windows):
        """[n, 76, 32] log-mel windows -> [n, 96] embeddings."""
        x = windows[..., None]
        for layer in self.network:
            if _pads_frequency(layer):
                x = ops.pad(x, [[0, 0], [0, 0], [1, 1], [0, 0]])
            x = layer(x)
            if layer.name.startswith("conv_") and layer.use_bias:
                x = ops.maximum(ops.leaky_relu(x, LEAK), FLOOR)
        return ops.reshape(x, (-1, EMBEDDING_DIM))

    def call(self, inputs):
        log_mel, valid = self.log_mel(inputs)
        frames = ops.shape(log_mel)[1]
        count = (frames - WINDOW_FRAMES) // WINDOW_STEP + 1
        starts = ops.arange(count, dtype="int32") * WINDOW_STEP
        index = starts[:, None] + ops.arange(WINDOW_FRAMES, dtype="int32")
        # [batch, windows, 76, 32] -> one batch of windows for the network.
        windows = ops.take(log_mel, ops.reshape(index, (-1,)), axis=1)
        batch = ops.shape(log_mel)[0]
        windows = ops.reshape(windows, (-1, WINDOW_FRAMES, MEL_BANDS))
        embeddings = ops.reshape(
            self.embed(windows), (batch, count, EMBEDDING_DIM)
        )
        embeddings = (embeddings - self.feature_mean) / self.feature_scale
        mask = ops.arange(count, dtype="int32")[None, :] < valid[:, None]
        return embeddings * ops.cast(mask, embeddings.dtype)[:, :, None]

    def frames_of_length(self, length, xp=ops):
        """The valid embeddings (output frames) of audio whose valid length
        is `length`: the 76-frame windows inside its extent; 0 for empty
        audio. `xp` is the array namespace (`keras.ops`, NumPy or
        `tf.experimental.numpy`), as for `LogMelFrontEnd.frames_of_length`.
        """
        extent = xp.maximum(length + 2 * self.margin, MIN_EXTENT)
        frames = (extent - FFT_LENGTH) // FRAME_STEP + 1
        windows = (frames - WINDOW_FRAMES) // WINDOW_STEP + 1
        return xp.where(length > 0, windows, 0)

    def valid_frames(self, inputs):
        """[batch, samples] right-zero-padded audio -> the valid embeddings
        of each row, int32 [batch]."""
        return self.frames_of_length(valid_length(inputs))

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}

    def adapt(self, embeddings) -> None:
        """Fits μ and σ (`standardisation`) to raw embeddings [n, 96]: the
        valid windows of the training recordings, computed before any
        adapt (μ = 0, σ = 1)."""
        if not self.built:
            self.build((None, None))
        mean, scale = standardisation(embeddings)
        self.feature_mean.assign(mean)
        self.feature_scale.assign(scale)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        if samples is None:
            return (input_shape[0], None, EMBEDDING_DIM)
        extent = max(samples + 2 * self.margin, MIN_EXTENT)
        frames = (extent - FFT_LENGTH) // FRAME_STEP + 1
        count = (frames - WINDOW_FRAMES) // WINDOW_STEP + 1
        return (input_shape[0], count, EMBEDDING_DIM)
