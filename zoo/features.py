"""The in-model audio front end: raw waveforms to normalised log-mel (or
mel-cepstral) frames.

Putting the features inside the model lets an exported SavedModel take raw
8 kHz audio, so a client needs no feature code of its own and training and
serving can never disagree on the features.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.layers import validation

# Per-utterance normalisations of LogMelFrontEnd, strongest first.
NORMALIZATIONS = ("mean_variance", "mean", "none")


def valid_length(inputs):
    """[batch, samples] right-zero-padded audio -> int32 [batch]: one past
    each row's last non-zero sample (0 for all-zero audio)."""
    # One extra zero sample keeps the max defined for empty audio.
    inputs = ops.pad(ops.cast(inputs, "float32"), [[0, 0], [0, 1]])
    samples = ops.shape(inputs)[1]
    nonzero = ops.cast(ops.not_equal(inputs, 0.0), "int32")
    positions = ops.arange(1, samples + 1, dtype="int32")
    return ops.max(nonzero * positions[None, :], axis=1)


@keras.saving.register_keras_serializable(package="zoo")
class LogMelFrontEnd(keras.layers.Layer):
    """Log-mel filterbank features with per-utterance normalisation.

    For a right-zero-padded waveform x of valid length n (the position after
    its last non-zero sample), with frames t = 0 .. T-1 of `frame_step`
    samples:

        M[t, m] = sum_k |STFT(x)[t, k]|² · W[k, m]        (mel filterbank)
        L[t, m] = log(M[t, m] + ε)
        v[t]    = 1 if t·frame_step + fft_length/2 <= n else 0  (valid)
        μ[m]    = Σ_t v[t] L[t, m] / Σ_t v[t]
        σ²[m]   = Σ_t v[t] (L[t, m] − μ[m])² / Σ_t v[t]
        y[t, m] = v[t] · (L[t, m] − μ[m]) / sqrt(σ²[m] + δ)

    (`normalization="mean_variance"`, the default: cepstral mean and
    variance normalisation per utterance; `"mean"` keeps only the mean
    subtraction, y = v · (L − μ); `"none"` gives y = v · L.)

    With `num_cepstra=K`, L is replaced by its first K mel-frequency
    cepstral coefficients (MFCCs, Davis & Mermelstein 1980) before the
    normalisation: C[t, k] = Σ_m L[t, m] · D[m, k], D the orthonormal
    DCT-II, D[m, k] = s_k · cos(π k (m + ½) / M), s_0 = √(1/M),
    s_k = √(2/M). The DCT decorrelates the bins and keeps the spectral
    envelope in the low k, the classic input of frame-wise models; it also
    destroys the locality along frequency that a 2-D convolution over
    log-mels relies on (Sainath et al. 2015 use log-mels for that reason),
    yet on unseen FSDD speakers the CLDNN scores about as well on 13 MFCCs
    and errs on other recordings, so averaging the two pays
    (bench/results/spoken_digits_loso_levers.md).

    Invalid frames (those whose centred FFT window reaches past n, i.e. into
    the padding) come out exactly zero, so the zoo's `inputs="features"`
    builders, which mask all-zero frames with `keras.layers.Masking`, ignore
    them. A batch of right-zero-padded utterances therefore gives, per
    utterance, the same valid frames as the unpadded audio (the last frame
    or two of each utterance, whose windows reach past its end, are
    dropped either way); only the number of trailing zero frames differs.

    Args:
        sample_rate: samples per second of the input audio.
        num_mel_bins: mel channels (the feature dimension).
        frame_length: analysis window, in samples (200 = 25 ms at 8 kHz).
        frame_step: hop between frames, in samples (80 = 10 ms at 8 kHz).
        fft_length: FFT size, at least `frame_length`.
        min_frequency: lowest mel edge, Hz.
        max_frequency: highest mel edge, Hz; None for sample_rate / 2.
        log_offset: ε, added before the log.
        variance_epsilon: δ, added to the variance (keeps silence finite).
        num_cepstra: None for log-mels; K (1 <= K <= num_mel_bins) for the
            first K MFCCs instead.
        normalization: per utterance, "mean_variance" (default), "mean" or
            "none" (see above): what removes a voice's and a channel's
            constant spectral offset and, with the variance, its range.

    Call arguments:
        inputs: float32 [batch, samples] in [-1, 1], right-zero-padded.
            Audio shorter than `fft_length` is zero-padded to it.

    Output shape:
        [batch, frames, feature_dim] (`num_mel_bins`, or `num_cepstra`
        when set) with
        frames = 1 + max(samples, fft_length) // frame_step;
        invalid frames are exactly zero (see `frame_mask`). All-zero audio
        has no valid frame: its features are all zero. NaN samples give NaN
        features (a Keras layer cannot raise on values inside a graph; the
        recipes' SavedModels check their input with tf.debugging asserts).

    Example:
        >>> front_end = LogMelFrontEnd(num_mel_bins=40)
        >>> tuple(front_end(keras.ops.zeros((2, 8000))).shape)
        (2, 101, 40)

    Reference:
        Davis & Mermelstein. "Comparison of parametric representations for
        monosyllabic word recognition." IEEE TASSP 1980.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        num_mel_bins: int = 40,
        frame_length: int = 200,
        frame_step: int = 80,
        fft_length: int = 256,
        min_frequency: float = 20.0,
        max_frequency: float | None = None,
        log_offset: float = 1e-6,
        variance_epsilon: float = 1e-3,
        num_cepstra: int | None = None,
        normalization: str = "mean_variance",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sample_rate = validation.positive_int("sample_rate", sample_rate)
        self.num_mel_bins = validation.positive_int(
            "num_mel_bins", num_mel_bins
        )
        self.frame_length = validation.positive_int(
            "frame_length", frame_length
        )
        self.frame_step = validation.positive_int("frame_step", frame_step)
        self.fft_length = validation.positive_int("fft_length", fft_length)
        if fft_length < frame_length:
            raise ValueError(
                "Received an invalid value for argument `fft_length`, "
                f"expected at least frame_length={frame_length}, got "
                f"{fft_length!r}."
            )
        top = sample_rate / 2 if max_frequency is None else max_frequency
        if not 0 <= min_frequency < top <= sample_rate / 2:
            raise ValueError(
                "Received invalid values for `min_frequency`/`max_frequency`,"
                " expected 0 <= min < max <= sample_rate / 2, got "
                f"{min_frequency!r}, {max_frequency!r}."
            )
        if log_offset <= 0 or variance_epsilon <= 0:
            raise ValueError(
                "Received an invalid value for `log_offset` or "
                "`variance_epsilon`, expected positive numbers, got "
                f"{log_offset!r}, {variance_epsilon!r}."
            )
        if num_cepstra is not None and not (
            isinstance(num_cepstra, int)
            and not isinstance(num_cepstra, bool)
            and 1 <= num_cepstra <= num_mel_bins
        ):
            raise ValueError(
                "Received an invalid value for argument `num_cepstra`, "
                f"expected None or an integer in 1..num_mel_bins="
                f"{num_mel_bins}, got {num_cepstra!r}."
            )
        self.num_cepstra = num_cepstra
        self.normalization = validation.one_of(
            "normalization", normalization, NORMALIZATIONS
        )
        # A constant, not a weight: the config fixes it.
        self.dct = self.dct_matrix() if num_cepstra else None
        self.min_frequency = min_frequency
        self.max_frequency = max_frequency
        self.log_offset = log_offset
        self.variance_epsilon = variance_epsilon
        self.spectrogram = keras.layers.MelSpectrogram(
            fft_length=fft_length,
            sequence_stride=frame_step,
            sequence_length=frame_length,
            sampling_rate=sample_rate,
            num_mel_bins=num_mel_bins,
            min_freq=min_frequency,
            max_freq=max_frequency,
            power_to_db=False,
            dtype="float32",
            name="mel_spectrogram",
        )

    @property
    def feature_dim(self) -> int:
        """Channels per output frame: the cepstra if set, else the mels."""
        return self.num_cepstra or self.num_mel_bins

    def dct_matrix(self) -> np.ndarray:
        """The orthonormal DCT-II, float32 [num_mel_bins, num_cepstra]."""
        bins = self.num_mel_bins
        m = np.arange(bins)[:, None] + 0.5
        k = np.arange(self.num_cepstra)[None, :]
        scale = np.where(k == 0, np.sqrt(1.0 / bins), np.sqrt(2.0 / bins))
        return (scale * np.cos(np.pi * k * m / bins)).astype(np.float32)

    def valid_frames(self, inputs):
        """[batch, samples] -> the number of valid frames, int32 [batch].

        A frame is valid when its centred FFT window ends within the valid
        length n (one past the last non-zero sample), so its values do not
        depend on any right padding; audio shorter than half a window keeps
        one frame, all-zero audio none.
        """
        return self.frames_of_length(valid_length(inputs))

    def frames_of_length(self, length, xp=ops):
        """The valid frames of audio whose valid length (one past its last
        non-zero sample) is `length`, by the rule of `valid_frames`.

        `xp` is the array namespace to compute with: `keras.ops` (default),
        NumPy, or `tf.experimental.numpy` inside a tf.data map under any
        Keras backend (all three have `where` and `maximum`).
        """
        reach = length - self.fft_length // 2
        full = xp.where(reach >= 0, reach // self.frame_step + 1, 0)
        return xp.where(length > 0, xp.maximum(full, 1), 0)

    def frame_mask(self, inputs, frames):
        """bool [batch, frames]: True on the valid frames."""
        valid = self.valid_frames(inputs)
        return ops.arange(frames, dtype="int32")[None, :] < valid[:, None]

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "LogMelFrontEnd expects mono audio shaped [batch, samples], "
                f"got an input of shape {tuple(input_shape)}; mix stereo "
                "down to one channel first."
            )

    def call(self, inputs):
        inputs = ops.cast(inputs, "float32")
        # The STFT reflects half a window at each edge, so it needs at least
        # fft_length samples; trailing zeros are padding here, so pad with
        # them (this changes nothing for longer audio).
        samples = inputs.shape[1]
        if isinstance(samples, int):  # static: JAX needs a Python int here
            shortfall = max(self.fft_length - samples, 0)
        else:
            shortfall = ops.maximum(self.fft_length - ops.shape(inputs)[1], 0)
        inputs = ops.pad(inputs, [[0, 0], [0, shortfall]])
        # MelSpectrogram gives [batch, mels, frames]; the zoo wants time first.
        mel = ops.transpose(self.spectrogram(inputs), (0, 2, 1))
        log_mel = ops.log(mel + self.log_offset)
        if self.num_cepstra:
            log_mel = ops.matmul(log_mel, ops.convert_to_tensor(self.dct))
        mask = self.frame_mask(inputs, ops.shape(log_mel)[1])
        weights = ops.cast(mask, "float32")[:, :, None]
        if self.normalization == "none":
            return log_mel * weights
        count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
        mean = ops.sum(log_mel * weights, axis=1, keepdims=True) / count
        centred = (log_mel - mean) * weights
        if self.normalization == "mean":
            return centred
        variance = ops.sum(ops.square(centred), axis=1, keepdims=True) / count
        # Padded frames are exactly zero: `centred` is zero there.
        return centred * ops.rsqrt(variance + self.variance_epsilon)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        if samples is None:
            return (input_shape[0], None, self.feature_dim)
        frames = 1 + max(samples, self.fft_length) // self.frame_step
        return (input_shape[0], frames, self.feature_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "num_mel_bins": self.num_mel_bins,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "min_frequency": self.min_frequency,
            "max_frequency": self.max_frequency,
            "log_offset": self.log_offset,
            "variance_epsilon": self.variance_epsilon,
            "num_cepstra": self.num_cepstra,
            "normalization": self.normalization,
        }


@keras.saving.register_keras_serializable(package="zoo")
class SpecAugment(keras.layers.Layer):
    """Frequency and time masking of feature frames, during training only.

    Each training example gets `frequency_masks` bands of up to
    `frequency_width` consecutive channels and `time_masks` spans of up to
    `time_width` consecutive frames set to zero, at uniformly random places
    (widths uniform in [0, width]). At inference the layer is the identity,
    so an exported model is unchanged. Frames zeroed in every channel read
    as padding to a following `keras.layers.Masking`, i.e. they are dropped,
    which is the point of time masking.

    Args:
        frequency_masks: bands masked per example.
        frequency_width: widest band, in channels.
        time_masks: spans masked per example.
        time_width: widest span, in frames.
        seed: seed of the mask positions.

    Call arguments:
        inputs: [batch, frames, channels] features.
        training: masks are applied only when True.

    Reference:
        Park et al. "SpecAugment: A Simple Data Augmentation Method for
        Automatic Speech Recognition." Interspeech 2019.
    """

    def __init__(
        self,
        frequency_masks: int = 2,
        frequency_width: int = 8,
        time_masks: int = 2,
        time_width: int = 10,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("frequency_masks", frequency_masks),
            ("frequency_width", frequency_width),
            ("time_masks", time_masks),
            ("time_width", time_width),
        ):
            validation.non_negative_int(name, value)
        self.frequency_masks = frequency_masks
        self.frequency_width = frequency_width
        self.time_masks = time_masks
        self.time_width = time_width
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _keep(self, batch, size, count, width):
        """[batch, size] float: 0 inside `count` random spans, else 1."""
        if count == 0 or width == 0:
            return ops.ones((batch, size))
        widths = ops.floor(
            keras.random.uniform(
                (batch, count), 0.0, width + 1.0, seed=self.seed_generator
            )
        )
        starts = ops.floor(
            keras.random.uniform((batch, count), seed=self.seed_generator)
            * ops.maximum(ops.cast(size, "float32") - widths + 1.0, 1.0)
        )
        positions = ops.cast(ops.arange(size), "float32")[None, None, :]
        inside = ops.logical_and(
            positions >= starts[:, :, None],
            positions < (starts + widths)[:, :, None],
        )
        return 1.0 - ops.cast(ops.any(inside, axis=1), "float32")

    def call(self, inputs, training=False):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        keep_channels = self._keep(
            shape[0], shape[2], self.frequency_masks, self.frequency_width
        )
        keep_frames = self._keep(
            shape[0], shape[1], self.time_masks, self.time_width
        )
        keep = keep_frames[:, :, None] * keep_channels[:, None, :]
        return inputs * ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "frequency_masks": self.frequency_masks,
            "frequency_width": self.frequency_width,
            "time_masks": self.time_masks,
            "time_width": self.time_width,
            "seed": self.seed,
        }
