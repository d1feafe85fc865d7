"""Export a network (our .keras, a frozen .pb, or a pose-tf SavedModel) for deployment.

    from pose_tf.export import export
    export("model.keras", "tflite", "model-int8.tflite", precision="int8",
           calibration_images="photos/")

Formats (see docs/export.md): `savedmodel` (TF Serving signature on uint8 images of any
size), `tflite` (fp32/fp16/int8), `onnx` (fp32/fp16/int8 Q/DQ), `tensorrt` (engine built
from the ONNX export; needs TensorRT and a GPU), `tftrt` (TF-TRT SavedModel; needs a
TensorFlow with TensorRT). Every artefact loads back with `Estimator.from_path` /
`--model`, layout included, and decodes through the same compiled grouping.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..core.errors import PoseTfError
from ..inference.artefact import ArtefactInfo, read_info, staged_output
from .calibration import DEFAULT_COUNT, calibration_batches
from .int8_weights import int8_ready

FORMATS = ("savedmodel", "tflite", "onnx", "tensorrt", "tftrt")
PRECISIONS = {"savedmodel": ("fp32",), "tflite": ("fp32", "fp16", "int8"),
              "onnx": ("fp32", "fp16", "int8"), "tensorrt": ("fp32", "fp16", "int8"),
              "tftrt": ("fp32", "fp16", "int8")}
# Formats whose artefact has a fixed input size (TFLite's converter and TensorRT's
# optimisation profile want one); the others take any size unless one is asked for.
FIXED_SIZE_FORMATS = ("tflite", "tensorrt")
DEFAULT_INPUT_SIZE = (368, 432)
SUFFIXES = {"tflite": (".tflite",), "onnx": (".onnx",), "tensorrt": (".engine", ".plan")}

__all__ = ["export", "FORMATS", "PRECISIONS", "DEFAULT_INPUT_SIZE", "ArtefactInfo", "read_info"]


def _check_request(fmt: str, out: Path, precision: str, input_size) -> None:
    if fmt not in FORMATS:
        raise PoseTfError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    if precision not in PRECISIONS[fmt]:
        raise PoseTfError(f"--quantize {precision} is not available for {fmt} "
                          f"(choose from {', '.join(PRECISIONS[fmt])})")
    if fmt in SUFFIXES and out.suffix not in SUFFIXES[fmt]:
        raise PoseTfError(f"--out {out}: a {fmt} file must end in {' or '.join(SUFFIXES[fmt])}")
    if fmt in ("savedmodel", "tftrt") and out.suffix in (".pb", ".keras", ".tflite", ".onnx"):
        raise PoseTfError(f"--out {out}: a {fmt} export is a folder, give a folder name")
    if fmt == "savedmodel" and input_size is not None:
        raise PoseTfError("--input-size does not apply to savedmodel (its signature takes any size)")


def _check_libraries(fmt: str) -> None:
    """Fail before any work if the format's tools are missing."""
    if fmt in ("onnx", "tensorrt"):
        from .onnx_export import require_onnx_tools
        require_onnx_tools()
    if fmt == "tensorrt":
        from .tensorrt_export import require_tensorrt
        require_tensorrt()
    if fmt == "tftrt":
        from .tensorrt_export import require_tftrt
        require_tftrt()


def export(model, fmt: str, out, layout: Optional[str] = None, precision: str = "fp32",
           calibration_images=None, calibration_count: int = DEFAULT_COUNT,
           input_size: Optional[Tuple[int, int]] = None, opset: Optional[int] = None,
           bn_statistics_images=None, bn_statistics_count: int = DEFAULT_COUNT) -> ArtefactInfo:
    """Write `model` as `fmt` to `out` (atomically); return the artefact's description.

    bn_statistics_images: a folder of photos on which to fix the statistics of a frozen
    graph's training-mode batch norms (see batch_statistics.py) before exporting it.
    """
    out = Path(out)
    _check_request(fmt, out, precision, input_size)
    if precision == "int8" and calibration_images is None:
        calibration_batches(None, DEFAULT_INPUT_SIZE)   # raises the "needs images" error
    _check_libraries(fmt)
    from .source import load_source

    fixed = tuple(input_size) if input_size else (DEFAULT_INPUT_SIZE if fmt in FIXED_SIZE_FORMATS else None)
    statistics_images = None
    if bn_statistics_images is not None:
        statistics_images = np.concatenate(calibration_batches(
            bn_statistics_images, fixed or DEFAULT_INPUT_SIZE, bn_statistics_count))
    source = load_source(model, layout, bn_statistics=statistics_images)
    calibration = None
    if precision == "int8":
        calibration = calibration_batches(calibration_images, fixed or DEFAULT_INPUT_SIZE, calibration_count)
        source = int8_ready(source, calibration)   # our networks: see int8_weights.py
    info = ArtefactInfo(format=fmt, layout=source.layout.name, precision=precision, input_size=fixed,
                        source=source.name, stride=source.stride, pad_value=source.pad_value,
                        input_multiple=source.input_multiple,
                        input="uint8 RGB [B,H,W,3]" if (fmt, precision) == ("tflite", "int8")
                        else "float32 RGB 0..255 [B,H,W,3]")
    if statistics_images is not None:
        info.extra["bn_statistics"] = f"fixed on {len(statistics_images)} images of {bn_statistics_images}"
    with staged_output(out, info) as tmp:
        _WRITERS[fmt](source, tmp, info, calibration, opset)
    return info


def _write_savedmodel(source, tmp, info, calibration, opset):
    from .savedmodel import write_saved_model

    write_saved_model(source, tmp)


def _write_tflite(source, tmp, info, calibration, opset):
    from .tflite import convert_tflite

    tmp.write_bytes(convert_tflite(source, info.input_size, info.precision, calibration))


def _onnx_model(source, info, calibration, opset):
    from .onnx_export import DEFAULT_OPSET, build_onnx

    return build_onnx(source, info.precision, info.input_size, calibration, opset or DEFAULT_OPSET,
                      for_tensorrt=info.format == "tensorrt")


def _write_onnx(source, tmp, info, calibration, opset):
    from .onnx_export import save_onnx

    save_onnx(_onnx_model(source, info, calibration, opset), tmp, info.to_json())


def _write_tensorrt(source, tmp, info, calibration, opset):
    from .tensorrt_export import build_engine

    model = _onnx_model(source, info, calibration, opset)
    tmp.write_bytes(build_engine(model.SerializeToString(), info.input_size))


def _write_tftrt(source, tmp, info, calibration, opset):
    from .savedmodel import write_saved_model
    from .tensorrt_export import convert_tftrt

    with tempfile.TemporaryDirectory(prefix="pose-tf-tftrt-") as staging:
        saved = os.path.join(staging, "saved_model")
        write_saved_model(source, saved)
        convert_tftrt(saved, tmp, info.precision, calibration)


_WRITERS = {"savedmodel": _write_savedmodel, "tflite": _write_tflite, "onnx": _write_onnx,
            "tensorrt": _write_tensorrt, "tftrt": _write_tftrt}
