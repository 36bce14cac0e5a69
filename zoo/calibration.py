"""Confidence that follows the evidence: length-aware logit scaling.

A classifier that pools its token features by averaging gives a five-word
review the same confidence as a five-hundred-word one: averaging hides how
much text there was. `EvidenceScaling` multiplies the classifier's logit z
by a factor that grows with the number of tokens n and saturates:

    z' = a · (n / (n + κ))^γ · z,        P(positive) = σ(z')

With κ= 0 it is plain temperature scaling (T = 1/a, Guo et al. 2017);
κ > 0 shrinks the logits of short texts towards 0 (probability 0.5), and
n = 0 (an empty or all-whitespace text) gives exactly z' = 0. The three
numbers are fitted after training, by `fit_evidence_scaling`, to minimise
the log loss on held-out reviews cut to several lengths; they are stored
in the layer's config, so they live inside the exported graph.

`expected_calibration_error` and `reliability_diagram` measure the result
(15 equal-width confidence bins, as in Guo et al. 2017).

Reference:
    Guo, Pleiss, Sun and Weinberger. "On Calibration of Modern Neural
    Networks." ICML 2017.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class EvidenceScaling(keras.layers.Layer):
    """Scales a logit by a saturating function of the token count.

    z' = scale · (n / (n + half_evidence))^power · z, where n counts the
    non-zero (non-padding) token ids of each example.

    Args:
        scale: a > 0, the factor for long texts (1 / temperature).
        half_evidence: κ ≥ 0, the token count at which (with power 1) the
            logit is halved relative to a long text.
        power: γ > 0, how sharply the factor rises with n.

    Call arguments:
        inputs: `[logits, token_ids]`: logits float [batch] and token ids
            int [batch, time] (0 = padding).

    Returns:
        The scaled logits, float [batch]; 0 for an example with no token.

    Example:

        scaled = EvidenceScaling(2.7, 1259.0, 0.75)([logit, ids])
        probability = keras.layers.Activation("sigmoid")(scaled)
    """

    def __init__(
        self,
        scale: float = 1.0,
        half_evidence: float = 0.0,
        power: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, low in (
            ("scale", scale, 0.0),
            ("half_evidence", half_evidence, None),
            ("power", power, 0.0),
        ):
            bad = not isinstance(value, (int, float)) or not np.isfinite(value)
            if bad or value < 0 or (low is not None and value <= low):
                kind = "non-negative" if low is None else "positive"
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, "
                    f"expected a {kind} number, got {value!r}."
                )
        self.scale = float(scale)
        self.half_evidence = float(half_evidence)
        self.power = float(power)

    def call(self, inputs):
        logits, token_ids = inputs
        logits = ops.convert_to_tensor(logits)
        counts = ops.sum(
            ops.cast(ops.not_equal(token_ids, 0), logits.dtype), axis=-1
        )
        # n / (n + κ) is 0 for n = 0, also when κ = 0 (no 0 / 0).
        fraction = ops.divide_no_nan(counts, counts + self.half_evidence)
        return logits * (self.scale * ops.power(fraction, self.power))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "half_evidence": self.half_evidence,
            "power": self.power,
        }


def scale_logits(logits, counts, scale, half_evidence, power) -> np.ndarray:
    """`EvidenceScaling` in NumPy: the scaled logits."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts + half_evidence
    fraction = np.divide(
        counts, total, out=np.zeros_like(counts), where=total > 0
    )
    return np.asarray(logits, np.float64) * scale * fraction**power


def _log_loss(logits, labels) -> float:
    return float(np.mean(np.logaddexp(0.0, logits) - labels * logits))


def fit_evidence_scaling(
    logits, counts, labels, *, powers=(0.25, 0.5, 0.75, 1.0)
) -> dict:
    """The `EvidenceScaling` arguments of least log loss (a grid search).

    Args:
        logits: float [examples], the unscaled logits of held-out texts
            (pass the same reviews cut to several lengths together).
        counts: their token counts n.
        labels: their 0/1 labels.
        powers: the candidate powers γ.

    Returns:
        `{"scale": a, "half_evidence": κ, "power": γ}`.
    """
    logits = np.asarray(logits, np.float64)
    counts = np.asarray(counts, np.float64)
    labels = np.asarray(labels, np.float64)
    scales = np.logspace(-2, 1, 61)
    best = (np.inf, 1.0, 0.0, 1.0)
    for half_evidence in np.concatenate([[0.0], np.logspace(-1, 4, 51)]):
        for power in powers if half_evidence > 0 else (1.0,):
            base = scale_logits(logits, counts, 1.0, half_evidence, power)
            for scale in scales:
                loss = _log_loss(scale * base, labels)
                if loss < best[0]:
                    best = (loss, scale, half_evidence, power)
    _, scale, half_evidence, power = best
    # Refine the scale around the grid's best point.
    base = scale_logits(logits, counts, 1.0, half_evidence, power)
    for candidate in scale * np.linspace(0.9, 1.1, 41):
        loss = _log_loss(candidate * base, labels)
        if loss < best[0]:
            best, scale = (loss, scale, half_evidence, power), candidate
    return {
        "scale": round(float(scale), 6),
        "half_evidence": round(float(half_evidence), 6),
        "power": float(power),
    }


def _bins(probability, labels, bins: int):
    probability = np.asarray(probability, np.float64)
    labels = np.asarray(labels)
    confidence = np.maximum(probability, 1.0 - probability)
    correct = (probability > 0.5).astype(int) == labels
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    return confidence, correct, index


def expected_calibration_error(probability, labels, bins: int = 15) -> float:
    """ECE of binary predictions: Σ_b |B|/N · |accuracy(B) − confidence(B)|.

    The confidence of P(positive) = p is max(p, 1 − p) and the predicted
    label is p > 0.5; the bins split [0, 1] into `bins` equal widths.
    """
    confidence, correct, index = _bins(probability, labels, bins)
    error = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            gap = correct[chosen].mean() - confidence[chosen].mean()
            error += chosen.mean() * abs(gap)
    return float(error)


def reliability_diagram(curves: dict, path, title: str, bins: int = 15):
    """Writes a PNG: accuracy against confidence, one panel per curve.

    Args:
        curves: `{panel title: (probability, labels)}`.
        path: the PNG file.
        title: the figure title.
        bins: equal-width confidence bins.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(
        1, len(curves), figsize=(4 * len(curves), 4), squeeze=False
    )
    centers = (np.arange(bins) + 0.5) / bins
    for axis, (name, (probability, labels)) in zip(axes[0], curves.items()):
        confidence, correct, index = _bins(probability, labels, bins)
        accuracy = np.full(bins, np.nan)
        counts = np.zeros(bins)
        for b in range(bins):
            chosen = index == b
            counts[b] = chosen.sum()
            if chosen.any():
                accuracy[b] = correct[chosen].mean()
        axis.bar(
            centers, accuracy, width=1 / bins, edgecolor="black", alpha=0.7
        )
        axis.plot([0, 1], [0, 1], "k--", linewidth=1)
        ece = expected_calibration_error(probability, labels, bins)
        axis.set_title(
            f"{name}\naccuracy {correct.mean():.3f}, "
            f"confidence {confidence.mean():.3f}, ECE {ece:.3f}",
            fontsize=9,
        )
        axis.set_xlim(0.4, 1)
        axis.set_ylim(0, 1)
        axis.set_xlabel("confidence")
        axis.set_ylabel("accuracy")
        for center, count in zip(centers, counts):
            if count:
                axis.text(
                    center,
                    0.02,
                    f"{int(count)}",
                    ha="center",
                    fontsize=6,
                    rotation=90,
                )
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
