"""Packaging: `pose-tf --version`; a real (non-editable) install carries its resources and
the compiled grouping extension, so `pose-tf demo` with no arguments works outside the
checkout; a missing optional tool names the extra that installs it.

The install test builds a wheel from a copy of the source tree (the checkout's build/ and
egg-info stay untouched), installs it with `pip install --no-deps --target DIR` and runs it
with PYTHONPATH=DIR on this interpreter: a `venv --system-site-packages` made from this
environment would not see TensorFlow, since this environment is itself a venv and the new
one inherits the base interpreter's site-packages, not ours.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import types
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

EXTRA = re.compile(r"pip install 'pose-tf\[(\w+)\]'")
RESOURCES = ("default_model.keras", "demo.jpg", "mean_pose.json", "tracker_bonn.yaml")
# What `pip wheel` of the source tree reads (everything else it needs is under pose_tf/).
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "requirements.txt")


def run(cmd, cwd, env=None, timeout=600):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------------------- --version

def test_version_flag_prints_the_version():
    from pose_tf.cli import version

    proc = run([sys.executable, "-m", "pose_tf", "--version"], cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"pose-tf {version()}\n"
    assert re.fullmatch(r"pose-tf \d+\.\d+\.\d+\S*\n", proc.stdout)


def test_version_without_metadata_is_the_packages(monkeypatch):
    from importlib import metadata

    import pose_tf
    from pose_tf import cli

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    assert cli.version() == pose_tf.__version__


# ---------------------------------------------------------------------------- missing extras

def assert_names_extra(message, extra):
    assert "\n" not in message and "is not installed" in message, message
    assert EXTRA.search(message) and EXTRA.search(message).group(1) == extra, message


def one_error_line(capsys, verb):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("pose-tf ")]
    assert len(lines) == 1, err
    prefix = f"pose-tf {verb}: error: "
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix):]


@pytest.fixture
def cli_without_tensorflow(monkeypatch):
    """pose_tf.cli with its TensorFlow pre-import skipped (none of these paths reach TF)."""
    from pose_tf import cli

    monkeypatch.setattr(cli, "_quiet_tensorflow_import", lambda: None)
    return cli


def test_demo_on_onnx_without_onnxruntime(cli_without_tensorflow, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)       # import onnxruntime -> ImportError
    model = tmp_path / "m.onnx"
    model.write_bytes(b"never read")
    rc = cli_without_tensorflow.main(["demo", str(ROOT / "pose_tf" / "resources" / "demo.jpg"),
                                      "--model", str(model), "--out", str(tmp_path / "out")])
    message = one_error_line(capsys, "demo")
    assert rc == 2
    assert message.startswith("onnxruntime is not installed"), message
    assert_names_extra(message, "onnx")
    assert not (tmp_path / "out").exists()


def test_onnx_export_without_the_onnx_tools(cli_without_tensorflow, monkeypatch, tmp_path, capsys):
    for name in ("onnx", "onnxruntime", "tf2onnx"):
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "m.onnx"
    rc = cli_without_tensorflow.main(["export", "--model", str(tmp_path / "m.keras"),
                                      "--format", "onnx", "--out", str(out)])
    message = one_error_line(capsys, "export")
    assert rc == 2
    assert message.startswith("onnx is not installed"), message
    assert_names_extra(message, "onnx")
    assert list(tmp_path.iterdir()) == []


def test_reading_onnx_metadata_without_onnx(monkeypatch, tmp_path):
    from pose_tf.core.errors import PoseTfError
    from pose_tf.inference.artefact import read_info

    monkeypatch.setitem(sys.modules, "onnx", None)
    model = tmp_path / "m.onnx"                 # no sidecar: the description is inside
    model.write_bytes(b"never read")
    with pytest.raises(PoseTfError) as info:
        read_info(model)
    assert_names_extra(str(info.value), "onnx")


def test_tflite_without_any_interpreter(monkeypatch):
    from pose_tf.core.errors import PoseTfError
    from pose_tf.inference.runtimes import exported

    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    # a TensorFlow whose tf.lite has no Interpreter (it is deprecated there)
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(lite=types.SimpleNamespace()))
    with pytest.raises(PoseTfError) as info:
        exported._tflite_interpreter("m.tflite")
    assert_names_extra(str(info.value), "tflite")


def test_tensorrt_missing_names_the_extra(monkeypatch):
    from pose_tf.core.errors import PoseTfError
    from pose_tf.export.tensorrt_export import require_tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(PoseTfError) as info:
        require_tensorrt()
    assert_names_extra(str(info.value), "tensorrt")


# ---------------------------------------------------------------------------- real install

def _cxx_compiler():
    cxx = (sysconfig.get_config_var("CXX") or "c++").split()[0]
    return shutil.which(cxx)


def _have_build_requirements() -> bool:
    """setuptools>=77 and Cython in this environment (pyproject's [build-system])."""
    try:
        import Cython  # noqa: F401
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def _copy_source_tree(dst: Path) -> Path:
    dst.mkdir()
    for name in BUILD_INPUTS:
        shutil.copy2(ROOT / name, dst / name)
    shutil.copytree(ROOT / "pose_tf", dst / "pose_tf",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "_grouping.cpp", "_pairs.cpp"))
    return dst


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel of the current source tree, built by pip as `pip install .` builds it."""
    if _cxx_compiler() is None:
        pytest.skip("no C++ compiler: the grouping extension cannot be built")
    work = tmp_path_factory.mktemp("build")
    src = _copy_source_tree(work / "src")
    cmd = [sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-q", "-w", work / "wheel"]
    if _have_build_requirements():
        cmd.append("--no-build-isolation")      # offline, and ~20 s faster
    proc = run(cmd, cwd=work)
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        if re.search(r"No matching distribution|Could not find a version|"
                     r"Failed to establish a new connection|Network is unreachable", out):
            pytest.skip(f"cannot fetch the build requirements: {out.strip().splitlines()[-1]}")
        pytest.fail(f"pip wheel failed:\n{out[-3000:]}")
    (built,) = (work / "wheel").glob("pose_tf-*.whl")
    return built


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_carries_resources_and_extension(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in RESOURCES:
        assert f"pose_tf/resources/{name}" in names, name
    shipped = {p.name for p in (ROOT / "pose_tf" / "resources").iterdir() if p.is_file()}
    assert {n.split("/")[-1] for n in names if n.startswith("pose_tf/resources/")} >= shipped
    assert [n for n in names if re.fullmatch(r"pose_tf/grouping/_grouping\..*\.so", n)], sorted(names)
    assert [n for n in names if re.fullmatch(r"pose_tf/tracking/_pairs\..*\.so", n)], sorted(names)
    assert not [n for n in names if n.startswith("datasets/") or "__pycache__" in n]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_installed_demo_runs_outside_the_checkout(wheel, tmp_path):
    import cv2

    target = tmp_path / "site"
    proc = run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                "--target", target, wheel], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSE_TF_")}
    env["PYTHONPATH"] = str(target)
    script = target / "bin" / "pose-tf"

    # the pose_tf that runs is the installed copy, extension included, not the checkout
    probe = run([sys.executable, "-c",
                 "import json, pose_tf, pose_tf.grouping._grouping as g\n"
                 "from pose_tf.commands._model_args import DEFAULT_MODEL\n"
                 "from pose_tf.data.recipes import load_recipe\n"
                 "try:\n    load_recipe('F6'); error = ''\n"
                 "except Exception as exc:\n    error = f'{type(exc).__name__}: {exc}'\n"
                 "print(json.dumps([pose_tf.__file__, g.__file__, str(DEFAULT_MODEL), error]))"],
                cwd=elsewhere, env=env, timeout=120)
    assert probe.returncode == 0, probe.stderr
    package, extension, model, recipe_error = json.loads(probe.stdout)
    for path in (package, extension, model):
        assert Path(path).is_relative_to(target) and not Path(path).is_relative_to(ROOT), path
    assert Path(model).is_file()
    assert recipe_error.startswith("PoseTfError: recipe 'F6' not found") and "datasets/F6.yaml" in recipe_error

    version = run([script, "--version"], cwd=elsewhere, env=env, timeout=120)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"pose-tf {wheel.name.split('-')[1]}\n"

    out = tmp_path / "out"
    demo = run([script, "demo", "--out", out], cwd=elsewhere, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    drawn = cv2.imread(str(out / "demo.jpg"))
    shipped = cv2.imread(str(target / "pose_tf" / "resources" / "demo.jpg"))
    assert drawn is not None and drawn.shape == shipped.shape
    result = json.loads((out / "demo.json").read_text())
    assert result["image"] == str(target / "pose_tf" / "resources" / "demo.jpg")
    assert isinstance(result["people"], list)
