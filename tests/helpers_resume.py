"""Kill a training command mid-run, rerun it, and report what happened.

`run_killed_then_resumed` is shared by the resume tests: any command that
trains with `zoo.training.standard_callbacks(output_dir, ...)` (the helper
script here, or a recipe with `--smoke`) can be checked with it.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def subprocess_environment() -> dict:
    """The environment for child Pythons: the repo importable, TF quiet."""
    environment = dict(os.environ)
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    environment["CUDA_VISIBLE_DEVICES"] = "-1"
    return environment


def history_rows(output_dir) -> list[dict]:
    """The rows of `history.csv` (CSVLogger), numbers as floats."""
    path = Path(output_dir) / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {key: float(value) for key, value in row.items() if value != ""}
        for row in rows
        if row and row.get("epoch") not in (None, "", "epoch")
    ]


@dataclass
class ResumeReport:
    """What `run_killed_then_resumed` saw."""

    killed_returncode: int
    rows_before_kill: list
    backed_up_epochs: int
    rows_after_resume: list
    resumed: subprocess.CompletedProcess


def _kill_group(process: subprocess.Popen) -> None:
    # The child runs in its own session: its process group id is its pid.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


def run_killed_then_resumed(
    command: list[str],
    output_dir,
    kill_after_epoch: int,
    *,
    timeout: float = 600,
    environment: dict | None = None,
    cwd=REPO,
) -> ResumeReport:
    """Runs `command`, SIGKILLs it mid-training, reruns it to the end.

    The kill is sent as soon as the backup (`output_dir/backup`, written by
    `zoo.training.standard_callbacks`) holds `kill_after_epoch` completed
    epochs, so it lands in the following epoch (or, rarely, while its
    backup is written). The same command is then run again to completion.

    Raises:
        AssertionError: If the first run ends before it is killed, or
            either run exceeds `timeout` seconds, or the rerun fails.
    """
    from zoo.training import AtomicBackupAndRestore

    output_dir = Path(output_dir)
    environment = environment or subprocess_environment()
    log = open(output_dir.parent / f"{output_dir.name}.killed.log", "w")
    process = subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while (
            AtomicBackupAndRestore.completed_epochs(output_dir / "backup")
            < kill_after_epoch
        ):
            if process.poll() is not None:
                raise AssertionError(
                    f"{command} ended (exit {process.returncode}) before "
                    f"{kill_after_epoch} epochs: see {log.name}."
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} timed out: see {log.name}.")
            time.sleep(0.02)
    finally:
        _kill_group(process)
        log.close()
    rows_before_kill = history_rows(output_dir)
    backed_up = AtomicBackupAndRestore.completed_epochs(output_dir / "backup")
    resumed = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=timeout,
    )
    if resumed.returncode != 0:
        raise AssertionError(
            f"The rerun of {command} failed:\n{resumed.stderr[-3000:]}"
        )
    return ResumeReport(
        killed_returncode=process.returncode,
        rows_before_kill=rows_before_kill,
        backed_up_epochs=backed_up,
        rows_after_resume=history_rows(output_dir),
        resumed=resumed,
    )


def python_command(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]
