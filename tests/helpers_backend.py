"""Runs a test script in a child Python under another Keras backend."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_under_backend(
    backend: str, script: str, **environment
) -> subprocess.CompletedProcess:
    """`script` under KERAS_BACKEND=backend, with the repository and tests/
    importable (and `environment` added); output captured as text."""
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "KERAS_BACKEND": backend,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
            **environment,
        },
        timeout=600,
    )
