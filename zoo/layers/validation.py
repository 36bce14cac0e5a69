"""Argument checks shared by the layers: clear `ValueError`s, never asserts."""

from __future__ import annotations

from collections.abc import Iterable


def _invalid(name: str, expected: str, value) -> ValueError:
    return ValueError(
        f"Received an invalid value for argument `{name}`, expected "
        f"{expected}, got {value!r}."
    )


def positive_int(name: str, value) -> int:
    """Returns `value` if it is an integer >= 1, else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(name, "a positive integer", value)
    return value


def non_negative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(name, "a non-negative integer", value)
    return value


def sequence(name: str, value, expected: str, min_length: int = 1) -> tuple:
    """Returns `value` as a tuple if it is a list or tuple of at least
    `min_length` entries, else raises ValueError naming `expected`."""
    if not isinstance(value, (list, tuple)) or len(value) < min_length:
        raise _invalid(name, expected, value)
    return tuple(value)


def fraction(name: str, value) -> float:
    """Returns `value` as a float in [0, 1), else raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(name, "a float in [0, 1)", value)
    if not 0.0 <= float(value) < 1.0:
        raise _invalid(name, "a float in [0, 1)", value)
    return float(value)


def one_of(name: str, value, choices: Iterable):
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise _invalid(name, f"one of {listed}", value)
    return value


def boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise _invalid(name, "a boolean", value)
    return value
