"""The exception raised by every seqzoo input pipeline for bad input data."""


class DataError(ValueError):
    """Input data is missing, malformed or not what a loader expects.

    The message names the offending path and what was expected, so that users
    see the cause without reading a TensorFlow stack trace. It subclasses
    `ValueError` so callers that catch bad arguments also catch bad data.
    """
