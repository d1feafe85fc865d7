"""`pose-tf evaluate`: COCO keypoint AP of a network on a COCO set (pycocotools)."""
from ._model_args import add_model_arguments, check_output_file, estimator_from_args, whole_number

NAME = "evaluate"
HELP = "run a network over a COCO keypoint set and score it with COCOeval"


def add_arguments(p):
    add_model_arguments(p)
    p.add_argument("--annotations", required=True, help="COCO person_keypoints_*.json")
    p.add_argument("--images", required=True, help="folder with the set's images")
    p.add_argument("--metrics-out", help="write AP, AP50, AP75, APm, APl, AR, mean_oks, detect_rate here")
    p.add_argument("--results-out", help="write the COCO results file (detections) here")
    p.add_argument("--bootstrap", type=whole_number(2), default=0, metavar="ROUNDS",
                   help="also the AP's standard error and 90%% interval over ROUNDS draws of the "
                        "images with replacement (small sets: ~0.03 AP on 80 images)")
    p.add_argument("--against", metavar="RESULTS",
                   help="with --bootstrap: another model's COCO results file on the same images "
                        "(its --results-out); adds the paired AP difference and its interval")


def run(args):
    from ..core.errors import PoseTfError
    from ..evaluation.coco import evaluate, format_bootstrap, format_table
    from ..io.files import write_json_atomic

    for flag, path in (("--metrics-out", args.metrics_out), ("--results-out", args.results_out)):
        if path:
            check_output_file(path, flag)
    if args.against and not args.bootstrap:
        raise PoseTfError("--against needs --bootstrap ROUNDS")
    estimator = estimator_from_args(args)
    metrics = evaluate(estimator, args.annotations, args.images, args.results_out,
                       bootstrap=args.bootstrap, against=args.against)
    print(metrics.pop("summary", ""))
    print(format_table(metrics))
    if args.bootstrap:
        print(format_bootstrap(metrics, args.bootstrap))
    if args.metrics_out:
        write_json_atomic(args.metrics_out, metrics, indent=2)
    return 0
