"""Registered model builders, one module per family.

Importing this package registers every builder with `zoo.registry`.
"""

from zoo.models import bag
from zoo.models import bidirectional
from zoo.models import composite
from zoo.models import convolutional
from zoo.models import mlp
from zoo.models import pyramid
from zoo.models import recurrent

__all__ = [
    "bag",
    "bidirectional",
    "composite",
    "convolutional",
    "mlp",
    "pyramid",
    "recurrent",
]
