"""What travels with an exported network, and how it is written without half-files.

Every export carries a small JSON description (layout, stride, padding value, input
multiple, fixed input size, input type, precision), so `--model exported.tflite` needs
no `--layout` and the estimator maps its cells right:
- a file artefact (.tflite, .onnx, .engine) has it beside it as `<artefact>.pose-tf.json`;
- a SavedModel folder has it inside, as `assets.extra/pose-tf.json` (the folder TF
  Serving reserves for files the graph does not read, so the model stays servable);
- an ONNX file also has it in its `metadata_props`, so the .onnx alone is enough.

Writers build the artefact under a temporary name next to the target and rename it at
the end (`staged_output`), so an interrupted or failed export leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Tuple

from ..core.errors import PoseTfError
from ..io.files import atomic_output, write_text_atomic

SIDECAR_SUFFIX = ".pose-tf.json"
SAVED_MODEL_METADATA = os.path.join("assets.extra", "pose-tf.json")
ONNX_METADATA_KEY = "pose_tf"
FORMAT_VERSION = 1


@dataclass
class ArtefactInfo:
    format: str                                  # savedmodel, tflite, onnx, tensorrt, tftrt
    layout: str                                  # keypoints layout name (coco17, openpose18)
    precision: str = "fp32"                      # fp32, fp16, int8
    input_size: Optional[Tuple[int, int]] = None  # (height, width) when fixed
    stride: int = 8                              # input pixels per map cell
    pad_value: float = 0.0                       # canvas fill around the image, as trained
    input_multiple: int = 16                     # input height and width must be multiples of it
    input: str = "float32 RGB 0..255 [B,H,W,3]"
    source: str = ""                             # file name of the model it was made from
    version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "ArtefactInfo":
        try:
            info = cls(**{k: data[k] for k in data if k in cls.__dataclass_fields__})
        except TypeError as exc:   # a required key is missing
            raise PoseTfError(f"{where}: not a pose-tf export description ({exc})") from None
        if info.input_size is not None:
            info.input_size = tuple(int(v) for v in info.input_size)
        return info


def sidecar_path(artefact) -> Path:
    return Path(str(artefact) + SIDECAR_SUFFIX)


def read_info(path) -> Optional[ArtefactInfo]:
    """The description of an export at `path`, or None if it has none."""
    path = Path(path)
    candidates = [path / SAVED_MODEL_METADATA] if path.is_dir() else [sidecar_path(path)]
    for candidate in candidates:
        if candidate.is_file():
            try:
                data = json.loads(candidate.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise PoseTfError(f"{candidate}: not valid JSON ({exc})") from None
            return ArtefactInfo.from_dict(data, str(candidate))
    if path.suffix == ".onnx" and path.is_file():
        return _read_onnx_info(path)
    return None


def _read_onnx_info(path: Path) -> Optional[ArtefactInfo]:
    try:
        import onnx
    except ImportError:
        raise PoseTfError("onnx is not installed (it reads the description inside .onnx files): "
                          "pip install 'pose-tf[onnx]'") from None

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == ONNX_METADATA_KEY:
            return ArtefactInfo.from_dict(json.loads(prop.value), f"{path} (metadata)")
    return None


def pick_layout(info: Optional[ArtefactInfo], requested: Optional[str], path) -> str:
    """Layout of an export: its own description, which an explicit --layout must agree with."""
    if info is None:
        if requested:
            return requested
        raise PoseTfError(f"{path}: no pose-tf description ({sidecar_path(path).name} or "
                          f"{SAVED_MODEL_METADATA}); pass --layout")
    if requested and requested != info.layout:
        raise PoseTfError(f"{path}: exported with layout {info.layout}, but --layout {requested} was given")
    return info.layout


@contextlib.contextmanager
def staged_output(target, info: ArtefactInfo):
    """Yield a temporary path to write the artefact (file or folder) to; on success move it
    (and its description) into place, on any failure remove every temporary file
    (pose_tf.io.files.atomic_output)."""
    target = Path(target)
    with atomic_output(target) as tmp:
        yield tmp
        if not tmp.exists():
            raise PoseTfError(f"{target}: the exporter wrote nothing")
        if tmp.is_dir():
            meta = tmp / SAVED_MODEL_METADATA
            meta.parent.mkdir(parents=True, exist_ok=True)
            meta.write_text(info.to_json(), encoding="utf-8")
        else:
            # The description lands first: an artefact is never seen without it.
            write_text_atomic(sidecar_path(target), info.to_json())
