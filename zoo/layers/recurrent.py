"""The recurrent layer: a `RecurrentCell` (the function f) run over time.

The input half of each gate's pre-activation, x·W + b, does not depend on
the state, so it can be computed for all time steps in one large matrix
product *before* the loop (hoisted), leaving only h·U inside the loop.
`hoist_inputs="auto"` hoists on a GPU, and on a CPU for inputs wider than
the state. Stock LSTM/GRU configurations use Keras' fused kernels (cuDNN)
where the backend has one (`zoo.layers.fused`), except while tracing for
export. Otherwise the cell's step runs in Keras' backend loop, or with
`scan_unroll=k > 1` in the zoo's `keras.ops.scan` loop, k steps per trip
(`zoo.layers.loops`); "auto" picks 8 under JAX on a GPU and 1 elsewhere.
Measurements behind both "auto" rules: bench/results/recurrent_auto.md.
"""

from __future__ import annotations

import functools
import inspect

import keras
from keras import ops

from zoo import keras_compat
from zoo.layers import loops
from zoo.layers import torch_loop as torch_loops
from zoo.layers import validation
from zoo.layers.fused import fused_loop
from zoo.layers.recurrent_cell import RecurrentCell

__all__ = ["RecurrentLayer"]


@functools.cache
def _accelerator_present() -> bool:
    """Whether the backend sees a GPU (where hoisting x·W pays off)."""
    try:
        return bool(keras.distribution.list_devices("gpu"))
    except Exception:  # a backend without device listing: assume a CPU
        return False


# Arguments of RecurrentLayer itself; everything else goes to the cell.
_LAYER_ARGUMENTS = (
    "use_cudnn",
    "hoist_inputs",
    "scan_unroll",
    "torch_loop",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
)


class _ConstructorSignature:
    """`inspect.signature(LayerClass)`: the layer's and its cell's arguments.

    On the class it is the constructor's full signature, so `help(LSTM)`
    and `inspect.signature(LSTM)` show `variant`, `dropout`, ...; on an
    instance it is None, so the instance's own call signature stands.
    """

    def __get__(self, instance, owner):
        if instance is not None:
            return None
        return owner._constructor_signature()


class _CellArgument:
    """A read-only attribute of the layer that is an argument of its cell."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return getattr(instance.cell, self.name)

    def __set__(self, instance, value):
        raise AttributeError(
            f"`{self.name}` is an argument of the cell: it is read from "
            f"`layer.cell.{self.name}`, and set there or in the constructor."
        )


class RecurrentLayer(keras_compat.RNN):
    """Runs a `RecurrentCell` over time with the input projection hoisted.

    Subclasses set `cell_class`; the constructor takes the cell's arguments
    (they show in `inspect.signature` and read back as attributes, as in
    Keras' LSTM) and the layer's own, and `get_config` returns them flat.

    Layer arguments (besides Keras' RNN ones and the cell's):
        use_cudnn: "auto", True or False: Keras' fused kernel (cuDNN) for a
            stock LSTM/GRU configuration.
        hoist_inputs: "auto", True or False: x·W for all steps before the
            loop ("auto": where an accelerator is visible, or for inputs
            with more features than `units`).
        scan_unroll: "auto" or a positive integer: time steps per trip of
            the loop ("auto": 8 under JAX on a GPU, else 1).
        torch_loop: "auto", "compiled", "eager" or "keras": the loop under
            PyTorch (`zoo.layers.torch_loop`; ignored by other backends).

    Call arguments:
        inputs: [batch, time, features].
        mask: Optional boolean [batch, time]; False steps are skipped (the
            state is kept and the previous output repeated).
        training: Whether dropout is active.
        initial_state: Optional list of initial state tensors.

    Output shape: [batch, units] (last output), [batch, time, units] with
    `return_sequences=True`, followed by the final states with
    `return_state=True`.
    """

    cell_class: type[RecurrentCell] = RecurrentCell
    __signature__ = _ConstructorSignature()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls._cell_argument_names():
            if not hasattr(cls, name):
                attribute = _CellArgument()
                setattr(cls, name, attribute)
                attribute.__set_name__(cls, name)

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        use_cudnn="auto",
        hoist_inputs="auto",
        scan_unroll="auto",
        torch_loop="auto",
        activity_regularizer=None,
        **kwargs,
    ):
        for name, value in (
            ("use_cudnn", use_cudnn),
            ("hoist_inputs", hoist_inputs),
        ):
            if value not in ("auto", True, False):
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, "
                    f"expected 'auto', True or False, got {value!r}."
                )
        if scan_unroll != "auto":
            validation.positive_int("scan_unroll", scan_unroll)
        self.use_cudnn = use_cudnn
        self.hoist_inputs = hoist_inputs
        self.scan_unroll = scan_unroll
        self.torch_loop = torch_loops.validate(torch_loop)
        cell_arguments = {
            key: kwargs.pop(key)
            for key in list(kwargs)
            if key in self._cell_argument_names()
        }
        cell = self.cell_class(
            units,
            name="cell",
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            **cell_arguments,
        )
        super().__init__(
            cell,
            return_sequences=bool(return_sequences),
            return_state=bool(return_state),
            go_backwards=bool(go_backwards),
            stateful=bool(stateful),
            unroll=bool(unroll),
            zero_output_for_mask=bool(zero_output_for_mask),
            activity_regularizer=activity_regularizer,
            **kwargs,
        )
        self.input_spec = keras.InputSpec(ndim=3)

    @classmethod
    @functools.cache
    def _cell_parameters(cls) -> tuple[inspect.Parameter, ...]:
        """The cell's constructor arguments but `units`, subclass first."""
        parameters = {}
        for klass in cls.cell_class.__mro__:
            if klass is keras.layers.Layer:
                break
            if "__init__" in vars(klass):
                signature = inspect.signature(klass.__init__)
                for name, parameter in signature.parameters.items():
                    if name not in ("self", "units") and parameter.kind not in (
                        parameter.VAR_KEYWORD,
                        parameter.VAR_POSITIONAL,
                    ):
                        parameters.setdefault(name, parameter)
        return tuple(parameters.values())

    @classmethod
    def _cell_argument_names(cls) -> frozenset[str]:
        return frozenset(p.name for p in cls._cell_parameters())

    @classmethod
    @functools.cache
    def _constructor_signature(cls) -> inspect.Signature:
        own = inspect.signature(RecurrentLayer.__init__).parameters
        first = [own["units"]]
        layer = [
            parameter.replace(kind=parameter.KEYWORD_ONLY)
            for name, parameter in own.items()
            if name not in ("self", "units", "kwargs")
        ]
        cell = [
            parameter.replace(kind=parameter.KEYWORD_ONLY)
            for parameter in cls._cell_parameters()
        ]
        return inspect.Signature(first + cell + layer + [own["kwargs"]])

    def build(self, sequences_shape, initial_state_shape=None):
        # The cell's weights are built from the *raw* feature size, although
        # the loop later runs over the projected inputs.
        if len(sequences_shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expects inputs of rank 3 "
                f"[batch, time, features], got shape {sequences_shape}."
            )
        if sequences_shape[-1] is None:
            raise ValueError(
                f"{self.__class__.__name__} needs a known feature size "
                f"(last axis), got shape {sequences_shape}."
            )
        super().build(sequences_shape, initial_state_shape)

    def run_loop(self, sequences, initial_state, mask, training=False):
        # keras.layers.RNN.call has prepared the initial state (zeros,
        # given, or the stateful variables); it packs the outputs after.
        cell = self.cell
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        sequences = self._dropped_inputs(sequences, training)
        fused = None
        if not torch_loops.replaces_fused(self):
            fused = fused_loop(self, sequences, initial_state, mask)
        if fused is not None:
            return fused
        hoist = self._hoists_inputs()
        if hoist:
            sequences = cell.project_inputs(sequences)
        recurrent_dropout_mask = None
        if training and cell.recurrent_dropout > 0.0:
            ones = ops.ones((ops.shape(sequences)[0], cell.units), self.dtype)
            recurrent_dropout_mask = keras.random.dropout(
                ones, cell.recurrent_dropout, seed=cell.seed_generator
            )
        torch_loop = torch_loops.chosen(self.torch_loop, self.unroll)
        if torch_loop != "keras":
            return torch_loops.run(
                self,
                sequences,
                initial_state,
                mask,
                projected=hoist,
                recurrent_dropout_mask=recurrent_dropout_mask,
                compiled=torch_loop == "compiled",
            )
        step = loops.step_function(cell, hoist, recurrent_dropout_mask)
        unroll_steps = self._scan_unroll_steps()
        if unroll_steps > 1 and not self.unroll:
            return loops.scan_loop(
                step,
                sequences,
                initial_state,
                mask,
                self,
                cell.output_size,
                unroll_steps,
            )
        return loops.keras_loop(step, sequences, initial_state, mask, self)

    def _dropped_inputs(self, sequences, training):
        """The inputs with the cell's dropout (one mask per sequence)."""
        cell = self.cell
        if not training or cell.dropout <= 0.0:
            return sequences
        return keras.random.dropout(
            sequences,
            cell.dropout,
            noise_shape=(ops.shape(sequences)[0], 1, sequences.shape[-1]),
            seed=cell.seed_generator,
        )

    def _hoists_inputs(self) -> bool:
        """Whether x·W is computed for all steps before the loop: "auto"
        hoists on an accelerator always, and on a CPU for inputs wider than
        the state (there x·W, its weight gradient and the input gradient,
        each a small product per step, become one large product each)."""
        if self.hoist_inputs != "auto":
            return bool(self.hoist_inputs)
        features = self.cell.kernel.shape[0]
        return _accelerator_present() or features > self.cell.units

    def _scan_unroll_steps(self) -> int:
        """Steps per loop trip: `scan_unroll`, or for "auto" 8 under JAX on
        a GPU and 1 elsewhere (TensorFlow's scan does not unroll, PyTorch's
        loop is eager Python)."""
        if self.scan_unroll != "auto":
            return self.scan_unroll
        if keras.backend.backend() == "jax" and _accelerator_present():
            return 8
        return 1

    @property
    def units(self) -> int:
        return self.cell.units

    def get_config(self):
        config = {key: getattr(self, key) for key in _LAYER_ARGUMENTS}
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        base_config = keras.layers.Layer.get_config(self)
        base_config.update(cell_config)
        base_config.update(config)
        if self.activity_regularizer is not None:
            base_config["activity_regularizer"] = keras.regularizers.serialize(
                self.activity_regularizer
            )
        return base_config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
