"""Re-exports a shipped SavedModel through `zoo.export.export_saved_model`.

The first shipped models (saved_models/*/1) were written by
`tf.saved_model.save` of a `tf.Module` around the Keras model: they load
with `tf.saved_model.load` but not in a TF1 session, which is how TF
Serving, KServe and `saved_model_cli run` load a SavedModel. Their
training checkpoints are gone, so instead of retraining (and changing the
models) this restores the old graph and variables and exports the same
functions again through the one export function: the new version gives
the old version's outputs (checked in a fresh process through both
loaders against the restored old version), its model card keeps the
figures, command and commit of the run that trained it, and adds where
and how it was re-exported.

    python -m recipes.reexport_shipped saved_models/imdb/1 --version 2

A model card that names a connected-digits model (`time_reduction`)
also gains the `logits_lengths` output (valid frames of each row of
`logits`), computed by the same front end and time reduction.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo import export
from zoo import training
from zoo.features import LogMelFrontEnd


def probe_inputs(name: str, spec: tf.TensorSpec) -> np.ndarray:
    """Inputs to compare the old and new versions on."""
    if spec.dtype == tf.string:
        return np.array(
            [
                b"A wonderful, moving film. The best acting I've seen!",
                b"Dull, predictable and far too long. A waste of time.",
                b"",
                b"Caf\xe9 cr\xe8me: not UTF-8 \xff\xfe",
            ]
        )
    # Audio: tones and noise of different lengths, zero-padded on the right.
    rng = np.random.default_rng(0)
    audio = np.zeros((3, 8000), np.float32)
    time = np.arange(8000) / 8000
    audio[0] = 0.4 * np.sin(2 * np.pi * 440 * time)
    audio[1, :5000] = rng.normal(0, 0.1, 5000)
    audio[2, :2400] = 0.3 * np.sin(
        2 * np.pi * 900 * time[:2400] * (1 + time[:2400])
    )
    return audio


def restored_endpoint(restored, card: dict) -> export.Endpoint:
    """The old `serving_default`, plus `logits_lengths` for CTC models."""
    signature = restored.signatures["serving_default"]
    inputs = {
        name: tf.TensorSpec(spec.shape, spec.dtype, name=name)
        for name, spec in signature.structured_input_signature[1].items()
    }
    front_end = None
    if "time_reduction" in card and (
        "logits_lengths" not in signature.structured_outputs
    ):
        # Exported before the lengths were an output, on log-mels: the
        # card records the front end as "LogMelFrontEnd {json}".
        config = json.loads(card["front_end"].split(" ", 1)[1])
        front_end = LogMelFrontEnd(**config)
        factor = int(card["time_reduction"])

    def serve(**tensors):
        outputs = dict(signature(**tensors))
        if front_end is not None:
            frames = front_end.valid_frames(tensors["audio"])
            outputs["logits_lengths"] = tf.cast(
                (frames + factor - 1) // factor, tf.int32
            )
        return outputs

    return export.Endpoint(serve, inputs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recipes.reexport_shipped",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("source", help="the old version folder")
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument(
        "--why",
        default="TF1-session loading (TF Serving, saved_model_cli run)",
        help="the reason, recorded in the model card",
    )
    arguments = parser.parse_args(argv)
    source = Path(arguments.source).resolve()
    card_path = source / "assets.extra" / "model_card.json"
    card = json.loads(card_path.read_text())
    restored = tf.saved_model.load(str(source))
    endpoint = restored_endpoint(restored, card)
    run = training.run_metadata(argv)
    if (
        "logits_lengths" not in card.get("outputs", "")
        and "time_reduction" in card
    ):
        card["outputs"] += (
            "; logits_lengths: int32 [batch], the valid frames of each row "
            "of logits"
        )
    card["re_export"] = {
        "from_version": int(source.name),
        "why": arguments.why,
        "command": run["command"],
        "date": run["date"],
        "git_commit": run["git_commit"],
    }
    target = export.export_saved_model(
        {"serving_default": endpoint},
        source.parent,
        arguments.version,
        probe_inputs={
            name: probe_inputs(name, spec)
            for name, spec in endpoint.inputs.items()
        },
        card=card,
        track=(restored,),
        atol=1e-6,
    )
    print(f"re-exported {source} as {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
