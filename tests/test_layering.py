"""The package's layering (pose_tf/__init__.py): no module imports a sub-package on its own
layer or above. Every module is parsed with `ast`; relative and absolute pose_tf imports,
at module level or inside functions, are resolved to the top-level sub-package they reach.
"""
import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pose_tf"

# Layer of every top-level sub-package or module of pose_tf ("pose_tf" is the package's own
# __init__.py). A module may import its own sub-package and any lower layer, nothing else.
RANKS = {
    "core": 0, "resources": 0,
    "io": 1,
    "codec": 2, "models": 2,
    "data": 3, "grouping": 3,
    "inference": 4,
    "evaluation": 5, "tracking": 5, "export": 5,
    "training": 6,
    "viz": 7,
    "video": 8,
    "commands": 9,
    "pose_tf": 10,
    "cli": 11,
    "__main__": 12,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level(module: str) -> str:
    """'pose_tf.data.sources.coco' -> 'data'; the package itself -> 'pose_tf'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pose_tf"


def imported_modules(path: Path):
    """(line, absolute module) of every pose_tf module that `path` imports."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:   # `from pose_tf import io` reaches pose_tf.io
                candidate = f"{source}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).is_dir() or \
                    (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).is_file()
                yield node.lineno, candidate if is_module else source


def violations(path: Path):
    own = top_level(module_name(path))
    for line, target in imported_modules(path):
        if target != "pose_tf" and not target.startswith("pose_tf."):
            continue
        reached = top_level(target)
        if reached != own and RANKS[reached] >= RANKS[own]:
            yield f"{path.relative_to(PACKAGE.parent)}:{line}: {own} (layer {RANKS[own]}) " \
                  f"imports {target} ({reached}, layer {RANKS[reached]})"


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_sub_package_has_a_layer():
    assert {top_level(module_name(p)) for p in MODULES} == set(RANKS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_reaches_its_layer_or_above(path):
    assert list(violations(path)) == []


def test_io_imports_only_core():
    reached = {top_level(target) for path in (PACKAGE / "io").rglob("*.py")
               for _, target in imported_modules(path) if target.startswith("pose_tf.")}
    assert reached <= {"core", "io"}


def test_an_upward_import_is_caught(tmp_path, monkeypatch):
    """The check itself: a core module importing the estimator is reported."""
    fake = tmp_path / "pose_tf"
    (fake / "core").mkdir(parents=True)
    (fake / "inference").mkdir()
    (fake / "inference" / "estimator.py").write_text("")
    upward = fake / "core" / "upward.py"
    upward.write_text("def f():\n    from ..inference.estimator import Estimator\n"
                      "from pose_tf import inference\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = list(violations(upward))
    assert len(found) == 2 and all("core (layer 0) imports pose_tf.inference" in f for f in found)
