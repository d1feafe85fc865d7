"""TensorRT paths: a real engine where `tensorrt` and a GPU exist, the errors elsewhere.

The engine test runs only with TensorRT + an NVIDIA GPU (skipped with the reason
otherwise). The error tests run everywhere: without the library, without a GPU (faked
modules), and for TF-TRT on a TensorFlow built without it; each must leave nothing behind.
"""
import sys
import types

import numpy as np
import pytest

from conftest import COCO_MINI, need

pytest.importorskip("tensorflow")

from pose_tf.core.errors import PoseTfError  # noqa: E402
from pose_tf.export import export  # noqa: E402
from pose_tf.export import tensorrt_export  # noqa: E402
from pose_tf.inference.runtimes import load_network, tensorrt_support  # noqa: E402

SIZE = (192, 224)


def _tensorrt_unavailable_reason():
    try:
        tensorrt_export.require_tensorrt()
    except PoseTfError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    from conftest import small_network

    model = small_network(seed=1, stages=1)
    path = tmp_path_factory.mktemp("trt") / "tiny.keras"
    model.save(path)
    return path


def _real_batch():
    from pose_tf.inference.estimator import letterbox
    from pose_tf.io.images import list_images, read_image

    image = read_image(list_images(need(COCO_MINI / "val2017"))[0])
    return letterbox(image, SIZE, fixed_canvas=True)[0][None]


@pytest.mark.skipif(_tensorrt_unavailable_reason() is not None,
                    reason=f"needs TensorRT and a GPU: {_tensorrt_unavailable_reason()}")
@pytest.mark.parametrize("precision, share", [("fp32", 1e-3), ("fp16", 2e-2)])
def test_tensorrt_engine_matches_keras(tiny_keras, tmp_path, precision, share):
    out = tmp_path / f"m-{precision}.engine"
    export(tiny_keras, "tensorrt", out, precision=precision, input_size=SIZE)
    engine = load_network(out)
    assert engine.fixed_input == SIZE and engine.layout.name == "coco17"
    batch = _real_batch()
    expected = load_network(tiny_keras)(batch)
    got = engine(batch)
    assert np.abs(got - expected).max() <= share * float(expected.max() - expected.min()) + 1e-6
    both = engine(np.concatenate([batch, batch[:, :, ::-1]]))     # batch of 2 (--flip)
    np.testing.assert_allclose(both[:1], got, atol=1e-5)


@pytest.mark.skipif(_tensorrt_unavailable_reason() is not None,
                    reason=f"needs TensorRT and a GPU: {_tensorrt_unavailable_reason()}")
def test_tensorrt_int8_engine_runs(tiny_keras, tmp_path):
    out = tmp_path / "m-int8.engine"
    export(tiny_keras, "tensorrt", out, precision="int8", input_size=SIZE,
           calibration_images=need(COCO_MINI / "train2017"), calibration_count=8)
    batch = _real_batch()
    got, expected = load_network(out)(batch), load_network(tiny_keras)(batch)
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] >= 0.95


def test_tensorrt_missing_library_says_what_to_install(tiny_keras, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)        # import tensorrt -> ImportError
    with pytest.raises(PoseTfError, match=r"TensorRT is not installed: pip install tensorrt cuda-python"):
        export(tiny_keras, "tensorrt", tmp_path / "m.engine")
    assert list(tmp_path.iterdir()) == []
    engine = tmp_path / "old.engine"          # running an engine needs the library too
    engine.write_bytes(b"engine bytes")
    with pytest.raises(PoseTfError, match="TensorRT is not installed"):
        load_network(engine, layout="coco17")


def test_tensorrt_without_gpu_says_so(tiny_keras, tmp_path, monkeypatch):
    fake_trt = types.ModuleType("tensorrt")
    fake_runtime = types.SimpleNamespace(cudaGetDeviceCount=lambda: (100, 0))  # cudaErrorNoDevice
    monkeypatch.setitem(sys.modules, "tensorrt", fake_trt)
    monkeypatch.setattr(tensorrt_support, "cuda_runtime", lambda: fake_runtime)
    with pytest.raises(PoseTfError, match="needs an NVIDIA GPU and none is usable"):
        export(tiny_keras, "tensorrt", tmp_path / "m.engine", precision="fp16")
    assert list(tmp_path.iterdir()) == []


def test_tftrt_on_tensorflow_without_tensorrt(tiny_keras, tmp_path):
    try:
        tensorrt_export.require_tftrt()
        pytest.skip("this TensorFlow has TF-TRT and a GPU: the error path does not apply")
    except PoseTfError:
        pass
    with pytest.raises(PoseTfError, match=r"has no TensorRT .* use --format tensorrt"):
        export(tiny_keras, "tftrt", tmp_path / "trt_saved_model")
    assert list(tmp_path.iterdir()) == []
