"""`pose-tf evaluate-tracking --gt DIR|FILE --pred DIR|FILE --metrics-out m.json`.

PoseTrack multi-frame mAP and MOTA as poseval computes them, plus IDF1 and ID switches
(see pose_tf/evaluation/posetrack.py). GT and predictions may be PoseTrack 2018 or 2017
JSON files, or folders of them (sequences paired by name); joints are compared by name,
on the joints both sides share.
"""
from __future__ import annotations

NAME = "evaluate-tracking"
HELP = "PoseTrack mAP, MOTA, IDF1 and ID switches of predicted tracks against ground truth"


def add_arguments(parser):
    parser.add_argument("--gt", required=True, help="ground-truth PoseTrack JSON file or folder")
    parser.add_argument("--pred", required=True, help="predicted PoseTrack JSON file or folder")
    parser.add_argument("--metrics-out", default=None, help="write all figures to this JSON file")
    parser.add_argument("--joints", default=None,
                        help="comma-separated joint names to evaluate (default: those both sides share)")
    parser.add_argument("--no-poseval-quirks", action="store_true",
                        help="count the last frame of each sequence and do not add poseval's phantom "
                             "miss/false positive in frames without predictions")


def run(args) -> int:
    from ..evaluation.posetrack import evaluate, format_table
    from ..io.files import write_json_atomic
    from ..io.posetrack import read_sequences

    gt = read_sequences(args.gt)
    pred = read_sequences(args.pred)
    joints = [j.strip() for j in args.joints.split(",")] if args.joints else None
    metrics = evaluate(gt, pred, joints=joints, poseval_quirks=not args.no_poseval_quirks)
    print(format_table(metrics))
    print(f"\nMOTA {metrics['MOTA']:.4f}  mAP {metrics['mAP']:.4f}  IDF1 {metrics['IDF1']:.4f}  "
          f"IDSW {metrics['IDSW']}   ({metrics['sequences']} sequences, {metrics['frames']} labelled frames)")
    if metrics["excluded_joints"]:
        print("not evaluated: " + ", ".join(f"{k} ({v})" for k, v in metrics["excluded_joints"].items()))
    if args.metrics_out:
        metrics.update(gt=str(args.gt), pred=str(args.pred))
        write_json_atomic(args.metrics_out, metrics)
        print(f"wrote {args.metrics_out}")
    return 0
