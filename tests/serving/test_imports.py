"""The server serves SavedModels without the zoo's model code."""

import ast
import pathlib

import zoo.serving

SERVING = pathlib.Path(zoo.serving.__file__).parent
FORBIDDEN = ("keras", "zoo.layers", "zoo.models", "zoo.registry", "zoo.data")


def imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_serving_never_imports_model_code():
    files = sorted(SERVING.glob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
