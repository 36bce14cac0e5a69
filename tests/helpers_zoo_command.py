"""Runs the installed `zoo` console script, as a user types it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers_resume import subprocess_environment


def zoo_command() -> str:
    """The `zoo` script beside this Python (the test venv's), else PATH's."""
    beside = Path(sys.executable).parent / "zoo"
    found = str(beside) if beside.exists() else shutil.which("zoo")
    assert found, "the zoo console script is not installed (pip install -e .)"
    return found


def run_zoo(*arguments, timeout: float = 600) -> subprocess.CompletedProcess:
    """`zoo ARGUMENTS...` in a subprocess; output captured as text."""
    return subprocess.run(
        [zoo_command(), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=subprocess_environment(),
    )
