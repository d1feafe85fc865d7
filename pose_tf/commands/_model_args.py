"""Options every verb that runs a network shares (--model, --layout, sizes, TTA)."""
from __future__ import annotations

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
    g.add_argument("--scales", default="1.0",
                   help="comma-separated test-time scales, maps merged before peaks (e.g. 1,0.75)")
    g.add_argument("--flip", action="store_true", help="test-time horizontal flip")
    g.add_argument("--canvas", choices=("box", "fit"), default="box",
                   help="pad the resized image to the whole --input-size box (default) or "
                        "only to a multiple of 16 (faster on wide/tall images)")
    g.add_argument("--peak-threshold", type=float, default=None,
                   help="heatmap value a keypoint peak must exceed")


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

    try:
        scales = tuple(float(s) for s in args.scales.split(","))
    except ValueError:
        raise PoseTfError(f"--scales must be numbers separated by commas, got {args.scales!r}") from None
    params = PostprocessParams()
    if args.peak_threshold is not None:
        import dataclasses
        params = dataclasses.replace(params, peak_threshold=args.peak_threshold)
    return Estimator.from_path(model_path(args), layout=args.layout, params=params,
                               input_size=parse_size(args.input_size), scales=scales, flip=args.flip,
                               canvas=args.canvas)
