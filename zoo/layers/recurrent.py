"""The recurrent structure h', y = f(h, x): a cell reused over time.

Every recurrent layer of the zoo is a `RecurrentCell` (the function f, applied
to one time step) run over a sequence by `RecurrentLayer`. The split follows
the one fast path that every cell shares: the input half of each gate's
pre-activation, x·W + b, does not depend on the state, so it can be computed
for all time steps in one large matrix product *before* the loop (hoisted),
leaving only the recurrent half, h·U, inside the loop. `hoist_inputs="auto"`
hoists where that pays: on a GPU, and on a CPU for inputs wider than the state
(the upper levels of a stack or pyramid, where the per-step x·W, its weight
gradient and the input gradient are the bulk of each step); for narrower
inputs the per-step product measured faster on a CPU. Stock LSTM/GRU
configurations use Keras' fused kernels (cuDNN) where the backend has one,
except while tracing for export.

The loop itself is Keras' own backend loop (`keras.layers.RNN`), which runs on
TensorFlow (a `tf.while_loop`), JAX (`lax.scan`) and PyTorch, and gives every
zoo layer Keras' exact semantics for masks (a masked step keeps the previous
state and repeats the previous output), `go_backwards` (outputs stay in
reversed order, as in Keras), `return_state`, `initial_state`, `stateful` and
`unroll`. With `scan_unroll=k > 1` the zoo runs its own `keras.ops.scan` loop,
with the same semantics, k steps per loop trip; "auto" picks 8 under JAX on a
GPU, where it measured 1.5x faster for a peephole LSTM, and 1 elsewhere.

`paired_loop` runs the two directions of a bidirectional layer in one loop of
T trips (trip t: the forward step at t and the backward step at T-1-t, each
with its own cell), used by `Bidirectional(fuse_directions=...)`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect

import keras
from keras import ops

from zoo.layers import torch_loop as torch_loops
from zoo.layers import validation


class RecurrentCell(keras.layers.Layer):
    """Base class of the zoo's cells: one step h', y = f(h, x).

    A subclass creates its weights in `build`, says how many gate blocks of
    `units` columns its input projection has (`num_input_blocks`), and
    implements `step(projected_inputs, states, training)`, where
    `projected_inputs` is the precomputed x·W (+ b) of one time step.

    `call(inputs, states)` runs projection and step together, so a cell is
    also usable on its own, one step at a time, like a Keras cell.

    Args:
        units: Positive integer, dimensionality of the state h.
        activation: Activation of the candidate and output (default tanh).
        recurrent_activation: Activation of the gates (default sigmoid).
        use_bias: Whether the gates have a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer:
            Initializers of W, U and b.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizers of W, U and b.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints of W, U and b.
        dropout: Fraction of the inputs dropped (one mask per sequence).
        recurrent_dropout: Fraction of the state h dropped before h·U (one
            mask per sequence, Gal & Ghahramani 2016).
        seed: Seed of the dropout masks.
    """

    def __init__(
        self,
        units: int,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = validation.positive_int("units", units)
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(
            recurrent_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(
            recurrent_regularizer
        )
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = validation.fraction("dropout", dropout)
        self.recurrent_dropout = validation.fraction(
            "recurrent_dropout", recurrent_dropout
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Both set by RecurrentLayer for the duration of one sequence: the
        # loop then feeds precomputed x·W + b instead of raw inputs.
        self._recurrent_dropout_mask = None
        self._inputs_projected = False

    # The size of the state(s) carried from step to step.
    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    # Weight helpers shared by all cells, so each cell's build is short.
    def _add_kernel(self, input_dim: int, columns: int):
        return self.add_weight(
            shape=(input_dim, columns),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def _add_recurrent_kernel(self, rows: int, columns: int, name: str):
        return self.add_weight(
            shape=(rows, columns),
            name=name,
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def _add_bias(self, shape, initializer=None, name: str = "bias"):
        return self.add_weight(
            shape=shape,
            name=name,
            initializer=initializer or self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def project_inputs(self, inputs):
        """x·W (+ input bias) for any number of leading axes."""
        if len(inputs.shape) > 2:
            # One 2-D product over batch x time: a rank-3 matmul would be a
            # batched product whose kernel gradient is [batch, in, out].
            leading = ops.shape(inputs)[:-1]
            flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
            projected = ops.matmul(flat, self.kernel)
            projected = ops.reshape(
                projected, tuple(leading) + (self.kernel.shape[-1],)
            )
        else:
            projected = ops.matmul(inputs, self.kernel)
        input_bias = self.input_bias()
        if input_bias is not None:
            projected = projected + input_bias
        return projected

    def input_bias(self):
        """The bias added to x·W before the loop (None if there is none)."""
        return self.bias if self.use_bias else None

    def recurrent_state(self, state):
        """h with recurrent dropout applied (a no-op outside training)."""
        if self._recurrent_dropout_mask is None:
            return state
        return state * self._recurrent_dropout_mask

    def step(self, projected_inputs, states, training=False):
        raise NotImplementedError

    def fused_kernel(self) -> str | None:
        """The name of Keras' fused kernel computing this exact cell, if any.

        "lstm" or "gru" (cuDNN on a GPU); None for every other cell.
        """
        return None

    def call(self, inputs, states, training=False):
        if not self._inputs_projected:
            inputs = self.project_inputs(inputs)
        return self.step(inputs, states, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "recurrent_activation": keras.activations.serialize(
                    self.recurrent_activation
                ),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "recurrent_initializer": keras.initializers.serialize(
                    self.recurrent_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "recurrent_regularizer": keras.regularizers.serialize(
                    self.recurrent_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "recurrent_constraint": keras.constraints.serialize(
                    self.recurrent_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed,
            }
        )
        return config


@functools.cache
def _accelerator_present() -> bool:
    """Whether the backend sees a GPU (where hoisting x·W pays off).

    On a GPU the big x·W product before the loop is what keeps the device
    busy. On a CPU it depends on the input width: see
    `RecurrentLayer._hoists_inputs`.
    """
    try:
        return bool(keras.distribution.list_devices("gpu"))
    except Exception:  # a backend without device listing: assume a CPU
        return False


# While True, no layer uses a fused (cuDNN) kernel: see fused_kernels_disabled.
_FUSED_DISABLED = [False]


@contextlib.contextmanager
def fused_kernels_disabled():
    """Within this block, zoo recurrent layers trace only their portable loop.

    Used around SavedModel export, so that a model trained on a GPU exports
    a graph without `CudnnRNN*` ops, which serves on any CPU.
    """
    previous = _FUSED_DISABLED[0]
    _FUSED_DISABLED[0] = True
    try:
        yield
    finally:
        _FUSED_DISABLED[0] = previous


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


class RecurrentLayer(keras.layers.RNN):
    """Runs a `RecurrentCell` over time with the input projection hoisted.

    Subclasses set `cell_class` and pass their cell arguments through
    `**cell_arguments`; `get_config` returns the flat constructor arguments
    (cell arguments and layer arguments), as Keras' LSTM does.

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
    def _cell_argument_names(cls) -> frozenset[str]:
        """The cell's constructor arguments (computed once per class)."""
        names = set()
        for klass in cls.cell_class.__mro__:
            if klass is keras.layers.Layer:
                break
            if "__init__" in vars(klass):
                parameters = inspect.signature(klass.__init__).parameters
                names.update(
                    name
                    for name, parameter in parameters.items()
                    if parameter.kind
                    not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
                )
        return frozenset(names - {"self", "units"})

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

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # keras.layers.RNN.call has prepared the initial state (zeros,
        # given, or the stateful variables); it packs the outputs after.
        cell = self.cell
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        sequences = self._dropped_inputs(sequences, training)
        fused = self._fused_loop(sequences, initial_state, mask)
        if fused is not None:
            return fused
        hoist = self._hoists_inputs()
        if hoist:
            sequences = cell.project_inputs(sequences)
        if training and cell.recurrent_dropout > 0.0:
            ones = ops.ones((ops.shape(sequences)[0], cell.units), self.dtype)
            cell._recurrent_dropout_mask = keras.random.dropout(
                ones, cell.recurrent_dropout, seed=cell.seed_generator
            )
        cell._inputs_projected = bool(hoist)
        try:
            unroll_steps = self._scan_unroll_steps()
            if unroll_steps > 1 and not self.unroll:
                return self._scan_loop(
                    sequences, initial_state, mask, training, unroll_steps
                )
            loop = torch_loops.chosen(self.torch_loop, self.unroll)
            if loop != "keras":
                return torch_loops.run(
                    self,
                    sequences,
                    initial_state,
                    mask,
                    training,
                    compiled=loop == "compiled",
                )
            return super().inner_loop(
                sequences, initial_state, mask, training=training
            )
        finally:
            cell._inputs_projected = False
            cell._recurrent_dropout_mask = None

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
        """Whether x·W is computed for all steps before the loop.

        "auto": on an accelerator always; on a CPU for inputs wider than the
        state. Measured on a 2-core CPU with TensorFlow (a bidirectional
        LSTM, 128 units, batch 32, 200 steps): with 80 input features from
        the model input, the per-step product trained ~10% faster (the
        [batch, time, gates·units] product and its gradient are
        memory-bound there); with 256 or 512 features hoisting trained
        1.1-1.3x faster, and 1.4-1.8x where the input gradient is needed
        too (the upper levels of a stack or pyramid): x·W, its weight
        gradient and the input gradient, each a small product per step,
        become one large product each.
        """
        if self.hoist_inputs != "auto":
            return bool(self.hoist_inputs)
        features = self.cell.kernel.shape[0]
        return _accelerator_present() or features > self.cell.units

    def _scan_unroll_steps(self) -> int:
        """Steps per loop trip: `scan_unroll`, or for "auto" 8 where that
        was measured to pay (JAX on a GPU: a peephole LSTM trained 1.5x
        faster than with one step per trip, bench/results/rnn_gpu_jax.md)
        and 1 elsewhere (TensorFlow's scan does not unroll, PyTorch's loop
        is eager Python)."""
        if self.scan_unroll != "auto":
            return self.scan_unroll
        if keras.backend.backend() == "jax" and _accelerator_present():
            return 8
        return 1

    def _scan_loop(self, sequences, initial_state, mask, training, unroll):
        """The time loop as `keras.ops.scan`, `scan_unroll` steps per trip.

        Same semantics as Keras' backend loop (`keras.layers.RNN`): a masked
        step keeps the state and repeats the previous output (or zeros, with
        `zero_output_for_mask`); with `go_backwards` the outputs stay in
        processing order. Partial unrolling cuts the per-iteration overhead
        of the loop (on a GPU, one trip of an XLA while loop per step).
        """
        cell = self.cell
        states = list(initial_state)
        steps = ops.transpose(sequences, (1, 0, 2))
        if mask is not None:
            step_mask = ops.expand_dims(
                ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1
            )
        if self.go_backwards:
            steps = ops.flip(steps, axis=0)
            if mask is not None:
                step_mask = ops.flip(step_mask, axis=0)
        # The carry is (states, previous output). TensorFlow's ops.scan
        # needs the per-step results shaped like the carry, so each step
        # emits its new carry; XLA drops the stacked states nobody reads.
        initial_output = ops.zeros(
            (ops.shape(sequences)[0], cell.output_size), sequences.dtype
        )

        def step(carry, slice_):
            states, previous_output = carry
            inputs, keep = slice_ if mask is not None else (slice_, None)
            output, new_states = cell(inputs, states, training=training)
            new_states = list(new_states)
            if keep is not None:
                fallback = (
                    ops.zeros_like(output)
                    if self.zero_output_for_mask
                    else previous_output
                )
                output = ops.where(keep, output, fallback)
                new_states = [
                    ops.where(keep, new, old)
                    for new, old in zip(new_states, states)
                ]
            new_carry = (new_states, output)
            return new_carry, new_carry

        slices = (steps, step_mask) if mask is not None else steps
        (final_states, _), (_, outputs) = ops.scan(
            step,
            (states, initial_output),
            slices,
            unroll=unroll,
        )
        last_output = outputs[-1]
        return last_output, ops.transpose(outputs, (1, 0, 2)), final_states

    def _fused_loop(self, sequences, initial_state, mask):
        """Keras' fused kernel (cuDNN) for a stock LSTM/GRU, else None.

        Only a cell whose configuration is exactly Keras' (`fused_kernel`)
        qualifies, never with recurrent dropout, and never while
        `fused_kernels_disabled()` is active (exports use it, so that no
        GPU-only op enters a SavedModel). Backends without a fused kernel
        for the case raise NotImplementedError, and the loop runs instead.
        """
        kernel_name = self.cell.fused_kernel()
        if (
            self.use_cudnn is False
            or kernel_name is None
            or torch_loops.replaces_fused(self)
            or self.cell.recurrent_dropout
            or _FUSED_DISABLED[0]
        ):
            return None
        from keras.src import backend as keras_backend

        cell = self.cell
        arguments = dict(
            kernel=cell.kernel,
            recurrent_kernel=cell.recurrent_kernel,
            bias=cell.bias,
            activation=cell.activation,
            recurrent_activation=cell.recurrent_activation,
            return_sequences=self.return_sequences,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
        )
        try:
            if kernel_name == "lstm":
                result = keras_backend.lstm(
                    sequences,
                    initial_state[0],
                    initial_state[1],
                    mask,
                    **arguments,
                )
            else:
                result = keras_backend.gru(
                    sequences,
                    initial_state[0],
                    mask,
                    reset_after=cell.reset_after,
                    **arguments,
                )
        except NotImplementedError:
            if self.use_cudnn is True:
                raise ValueError(
                    "use_cudnn=True was given, but this backend has no fused "
                    "kernel for this configuration (a GPU is needed, and no "
                    "mask). Pass use_cudnn='auto' to fall back to the loop."
                ) from None
            return None
        if keras.backend.backend() == "tensorflow":
            # cuDNN ops are not XLA-compatible.
            self.supports_jit = False
        return result

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


def paired_loop_obstacle(forward, backward) -> str | None:
    """Why `forward` and `backward` cannot share one time loop, or None.

    The shared loop (`paired_loop`) runs two zoo recurrent layers, the second
    reading the sequence from the end, with the semantics of two separate
    calls. It covers the configurations whose every step it reproduces
    exactly; the rest run as two layers.
    """
    for role, layer in (("forward", forward), ("backward", backward)):
        if not isinstance(layer, RecurrentLayer):
            return f"the {role} layer is not a zoo recurrent layer"
        if layer.stateful:
            return f"the {role} layer is stateful"
        if layer.unroll:
            return f"the {role} layer is unrolled"
        if layer.cell.recurrent_dropout:
            return f"the {role} layer has recurrent dropout"
        if layer.activity_regularizer is not None:
            return f"the {role} layer has an activity regularizer"
        if layer._scan_unroll_steps() > 1:
            return f"the {role} layer runs several steps per loop trip"
    if forward.go_backwards or not backward.go_backwards:
        return "the layers do not read the sequence in opposite directions"
    if (forward.return_sequences, forward.return_state) != (
        backward.return_sequences,
        backward.return_state,
    ):
        return "the layers return different outputs"
    return None


def paired_loop_pays() -> bool:
    """Whether `fuse_directions="auto"` shares the loop: nowhere, so far.

    Measured on a 2-core CPU with TensorFlow (bench/rnn.py shapes: batch 32,
    800 steps, 128 units; interleaved with two loops in one process), the
    shared loop trained within ±5% of two loops, the sign changing from run
    to run: the per-step matrix products dominate each step, and TensorFlow's
    executor already runs two independent loops side by side. So "auto"
    keeps the separate loops, which also keep cuDNN and `scan_unroll`; GPUs
    are unmeasured.
    """
    return False


def paired_loop(forward, backward, sequences, mask=None, training=False):
    """Runs a forward and a backward layer over `sequences` in one loop.

    Step t computes the forward layer's step on x_t and the backward layer's
    on x_{T-1-t}, each with its own cell, weights and states: one loop of T
    trips instead of two, and the two steps of a trip are independent, so a
    graph executor runs them side by side. The result equals calling the two
    layers (zero initial states): each direction's masked steps keep its
    state and repeat its previous output (or zeros, with
    `zero_output_for_mask`), and the backward outputs stay in processing
    order, as with `go_backwards`.

    Args:
        forward, backward: `RecurrentLayer`s, built, for which
            `paired_loop_obstacle` is None.
        sequences: [batch, time, features].
        mask: Optional boolean [batch, time].
        training: Whether input dropout is active.

    Returns:
        (forward result, backward result), each what the layer's own call
        returns: the output, or [output, *final states] with `return_state`.
    """
    from keras.src import backend as keras_backend

    layers = (forward, backward)
    batch = ops.shape(sequences)[0]
    inputs, hoisted, initial, counts = [], [], [], []
    for layer in layers:
        steps = layer._dropped_inputs(sequences, training)
        hoisted.append(layer._hoists_inputs())
        if hoisted[-1]:
            steps = layer.cell.project_inputs(steps)
        inputs.append(steps)
        states = [
            ops.cast(state, layer.cell.compute_dtype)
            for state in layer.get_initial_state(batch)
        ]
        initial.extend(states)
        counts.append(len(states))
    inputs[1] = ops.flip(inputs[1], axis=1)
    if mask is not None:
        keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
        inputs.extend([keep, ops.flip(keep, axis=1)])
        # The previous outputs, repeated at masked steps.
        for layer in layers:
            if not layer.zero_output_for_mask:
                initial.append(
                    ops.zeros(
                        (batch, layer.cell.output_size),
                        layer.cell.compute_dtype,
                    )
                )
    bounds = (0, counts[0], counts[0] + counts[1])

    def step(inputs_t, carry):
        carry = list(carry)
        extra = iter(carry[bounds[2] :])
        outputs, new_states, new_previous = [], [], []
        for index, layer in enumerate(layers):
            states = carry[bounds[index] : bounds[index + 1]]
            output, states_t = layer.cell(
                inputs_t[index], states, training=training
            )
            states_t = list(states_t)
            if mask is not None:
                keep_t = inputs_t[2 + index]
                if layer.zero_output_for_mask:
                    fallback = ops.zeros_like(output)
                else:
                    fallback = next(extra)
                output = ops.where(keep_t, output, fallback)
                states_t = [
                    ops.where(keep_t, new, old)
                    for new, old in zip(states_t, states)
                ]
                if not layer.zero_output_for_mask:
                    new_previous.append(output)
            outputs.append(output)
            new_states.extend(states_t)
        return tuple(outputs), new_states + new_previous

    for layer, projected in zip(layers, hoisted):
        layer.cell._inputs_projected = projected
    try:
        _, outputs, final = keras_backend.rnn(
            step,
            tuple(inputs),
            initial,
            input_length=sequences.shape[1],
            return_all_outputs=forward.return_sequences,
        )
    finally:
        for layer in layers:
            layer.cell._inputs_projected = False
    results = []
    for index, layer in enumerate(layers):
        # Every step's output, or the last one (the backends differ in what
        # they keep without `return_all_outputs`, but both end with it).
        sequence = outputs[index]
        output = sequence if layer.return_sequences else sequence[:, -1]
        output = ops.cast(output, layer.compute_dtype)
        if not layer.return_state:
            results.append(output)
            continue
        states = final[bounds[index] : bounds[index + 1]]
        results.append(
            [output] + [ops.cast(s, layer.compute_dtype) for s in states]
        )
    return tuple(results)
