"""The docstring examples of the layers, the builders, the audio front end
and the split carving are true: each module's examples run with doctest."""

import doctest
import importlib
import pkgutil

import pytest

import zoo.layers
import zoo.models


def _modules():
    names = [
        "zoo.data.padding",
        "zoo.data.splits",
        "zoo.features",
        "zoo.registry",
        "zoo.speech_embedding",
    ]
    for package in (zoo.layers, zoo.models):
        names.extend(
            f"{package.__name__}.{info.name}"
            for info in pkgutil.iter_modules(package.__path__)
        )
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = []
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
