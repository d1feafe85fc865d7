"""Options every verb that runs a network shares (--model, --layout, sizes, TTA), and the
argument checks the verbs share (argparse types, output paths checked before the work)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import resources
from ..core.errors import PoseTfError
from ..core.keypoints import LAYOUTS

# The model `make demo` and friends use when --model is not given: package data, so an
# installed pose-tf has it too (card: models/default/README.md in the repository).
DEFAULT_MODEL = resources.path("default_model.keras")


def add_model_arguments(parser, model_required: bool = False) -> None:
    g = parser.add_argument_group("network")
    g.add_argument("--model", required=model_required,
                   help="network: .keras, frozen .pb, SavedModel folder, .tflite or .onnx "
                        f"(default: the shipped model, {DEFAULT_MODEL.relative_to(DEFAULT_MODEL.parents[2])})")
    g.add_argument("--layout", choices=tuple(LAYOUTS),
                   help="output layout of the network (default: coco17 for .keras, "
                        "openpose18 for frozen .pb graphs; exported artefacts carry their own)")
    g.add_argument("--input-size", default="368x432", metavar="HxW",
                   help="box the image is resized into, aspect ratio kept (default 368x432)")
    g.add_argument("--scales", default="1.0", type=scales_text,
                   help="comma-separated test-time scales, maps merged before peaks (e.g. 1,0.75)")
    g.add_argument("--flip", action="store_true", help="test-time horizontal flip")
    g.add_argument("--canvas", choices=("box", "fit"), default="box",
                   help="pad the resized image to the whole --input-size box (default) or "
                        "only to a multiple of 16 (faster on wide/tall images)")
    g.add_argument("--peak-threshold", type=float, default=None,
                   help="heatmap value a keypoint peak must exceed")
    g.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="TensorFlow networks: auto (default) = bfloat16 through oneDNN where the "
                        "CPU has AVX-512 BF16 or AMX, else float32")


# ------------------------------------------------------------------ argparse types
# A bad number is refused while the command line is parsed (usage + one line, exit 2), not
# after the network has loaded or, worse, halfway through a video.

def whole_number(minimum: int, meaning: str = ""):
    """argparse type: an int >= `minimum`; `meaning` explains a special value in the message."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}{meaning}, got {text!r}")
        return value
    return parse


def positive_number(text: str) -> float:
    """argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def parse_scales(text: str) -> tuple:
    """'1,0.75' -> (1.0, 0.75); every scale a number > 0 (ArgumentTypeError otherwise)."""
    try:
        return tuple(positive_number(s) for s in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be numbers > 0 separated by commas (e.g. 1,0.75), got {text!r}") from None


def scales_text(text: str) -> str:
    """argparse type for --scales: checked here, kept as text (callers print it as given)."""
    parse_scales(text)
    return text


# ------------------------------------------------------------------ output paths
# Checked before the network loads: a run must not end, after all the work, on an --out
# it could never write. Later OSErrors (disk full, a folder made read-only meanwhile) are
# reported by cli.main in one line.

def _writable_folder(path: Path, flag: str, target: Path) -> None:
    """`path` (or, if it does not exist yet, its nearest existing parent, where it will be
    created) must be a folder this process may write to."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        which = "" if existing == target else f"{existing} "
        raise PoseTfError(f"{flag} {target}: {which}is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PoseTfError(f"{flag} {target}: folder {existing} is not writable")


def check_output_folder(path, flag: str = "--out") -> None:
    """An output folder that exists is a writable folder, else it can be created."""
    path = Path(path)
    _writable_folder(path, flag, path)


def check_output_file(path, flag: str) -> None:
    """An output file is not a folder, and its folder is writable or can be created."""
    path = Path(path)
    if path.is_dir():
        raise PoseTfError(f"{flag} {path}: is a folder, not a file")
    _writable_folder(path.parent, flag, path)


def parse_size(text: str):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h <= 0 or w <= 0:
            raise ValueError
        return h, w
    except ValueError:
        raise PoseTfError(f"--input-size must look like 368x432 (height x width), got {text!r}") from None


def model_path(args) -> str:
    if args.model:
        return args.model
    if DEFAULT_MODEL.exists():
        return str(DEFAULT_MODEL)
    raise PoseTfError(f"no default model ships yet ({DEFAULT_MODEL} is missing): pass --model")


def estimator_from_args(args):
    from ..grouping import PostprocessParams
    from ..inference.estimator import Estimator

    scales = parse_scales(args.scales)
    params = PostprocessParams()
    if args.peak_threshold is not None:
        import dataclasses
        params = dataclasses.replace(params, peak_threshold=args.peak_threshold)
    return Estimator.from_path(model_path(args), layout=args.layout, params=params,
                               input_size=parse_size(args.input_size), scales=scales, flip=args.flip,
                               canvas=args.canvas, precision=args.precision)
