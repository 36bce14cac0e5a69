"""`saved_model_cli run`: a SavedModel run as TF Serving's loader runs it.

`saved_model_cli run` restores the variables into a TF1 session from the
checkpoint, as TensorFlow Serving's C++ loader and KServe do, which
`tf.saved_model.load` does not; an export that only the latter can run
fails here ("Could not find variable ...").
"""

from __future__ import annotations

import os
import subprocess
import sys


def saved_model_cli_run(folder, input_exprs: str, flag="--input_exprs") -> str:
    """Runs `serving_default` on `input_exprs` (Python literals; with
    `flag="--inputs"`, `name=file.npy`); returns stdout, or raises
    AssertionError with the end of stderr."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tensorflow.python.tools.saved_model_cli",
            "run",
            "--dir",
            str(folder),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            flag,
            input_exprs,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
