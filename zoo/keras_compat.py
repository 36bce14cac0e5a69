"""Every use of Keras' private API in the zoo, in one place.

The zoo reaches below Keras' public API in three spots, each for a reason
the public API does not cover:

- the backend time loop `keras.src.backend.rnn` (runs a step function over
  time with Keras' mask semantics on every backend) and the fused kernels
  `keras.src.backend.lstm` / `gru` (cuDNN), which `keras.layers.LSTM` uses
  but does not export;
- the hook `keras.layers.RNN.inner_loop`, through which `RNN.call` (initial
  and stateful states, output packing) hands the loop to a subclass;
- the members of `keras.callbacks.BackupAndRestore` that
  `zoo.training.AtomicBackupAndRestore` reads or replaces (`_save_model`,
  `_current_epoch`, `_last_batch_seen`) and the model's `_initial_epoch`,
  which `fit` reads to resume.

`check()` verifies that all of them exist; tests/test_keras_compat.py runs it
and names the Keras versions it was checked against (`CHECKED_VERSIONS`), so
a Keras upgrade that moves any of them fails there, with a message that
names what moved, rather than deep inside a layer.
"""

from __future__ import annotations

import keras
from keras.src import backend as _backend

# The Keras releases whose private members below were read and tested.
CHECKED_VERSIONS = ("3.15.1",)


def rnn(step_function, inputs, initial_states, **arguments):
    """Keras' backend time loop: `step_function(inputs_t, states)` over time.

    Arguments as `keras.src.backend.rnn` (go_backwards, mask, unroll,
    input_length, zero_output_for_mask, return_all_outputs). Returns
    (last output, outputs, final states).
    """
    return _backend.rnn(step_function, inputs, initial_states, **arguments)


def lstm(*arguments, **keyword_arguments):
    """Keras' fused LSTM kernel; raises NotImplementedError where there is
    none for the case (no GPU, a mask on TensorFlow, ...)."""
    return _backend.lstm(*arguments, **keyword_arguments)


def gru(*arguments, **keyword_arguments):
    """Keras' fused GRU kernel; raises NotImplementedError as `lstm`."""
    return _backend.gru(*arguments, **keyword_arguments)


class RNN(keras.layers.RNN):
    """`keras.layers.RNN` whose time loop is the subclass' `run_loop`.

    `RNN.call` prepares the initial states (zeros, given or stateful), calls
    its private hook `inner_loop`, and packs the outputs; a subclass
    implements `run_loop(sequences, initial_state, mask, training)` with
    the hook's contract: it returns (last output, outputs, final states).
    """

    def run_loop(self, sequences, initial_state, mask, training=False):
        raise NotImplementedError

    def inner_loop(self, sequences, initial_state, mask, training=False):
        return self.run_loop(sequences, initial_state, mask, training)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` with its private members named.

    A subclass implements `save_backup()` (Keras' private `_save_model`,
    called on each save) and reads `current_epoch` / `last_batch_seen`;
    `set_initial_epoch(epoch)` tells `fit` where a restored run resumes.
    """

    def save_backup(self):
        raise NotImplementedError

    def _save_model(self):
        self.save_backup()

    @property
    def current_epoch(self) -> int:
        return self._current_epoch

    @property
    def last_batch_seen(self) -> int:
        return self._last_batch_seen

    def set_initial_epoch(self, epoch: int) -> None:
        self.model._initial_epoch = int(epoch)


def check() -> None:
    """Raises RuntimeError naming every private member that is missing."""
    missing = [
        f"keras.src.backend.{name}"
        for name in ("rnn", "lstm", "gru")
        if not callable(getattr(_backend, name, None))
    ]
    if not callable(getattr(keras.layers.RNN, "inner_loop", None)):
        missing.append("keras.layers.RNN.inner_loop")
    backup = keras.callbacks.BackupAndRestore
    if not callable(getattr(backup, "_save_model", None)):
        missing.append("keras.callbacks.BackupAndRestore._save_model")
    members = vars(backup("unused_backup_dir"))
    missing.extend(
        f"keras.callbacks.BackupAndRestore().{name}"
        for name in ("_current_epoch", "_last_batch_seen")
        if name not in members
    )
    if "_initial_epoch" not in vars(keras.Sequential()):
        missing.append("keras.Model()._initial_epoch")
    if missing:
        raise RuntimeError(
            f"Keras {keras.__version__} lacks private members that "
            f"zoo/keras_compat.py uses (checked against Keras "
            f"{', '.join(CHECKED_VERSIONS)}): {', '.join(missing)}. Adapt "
            "zoo/keras_compat.py to this Keras version."
        )
