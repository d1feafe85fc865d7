"""`pose-tf evaluate-tracking --gt DIR|FILE --pred DIR|FILE --metrics-out m.json`.

PoseTrack multi-frame mAP and MOTA as poseval computes them, plus IDF1 and ID switches
(see pose_tf/evaluation/posetrack.py). GT and predictions may be PoseTrack 2018 or 2017
JSON files, or folders of them (sequences paired by file name, frames by image file name).
By default the figures are poseval's: its 15 joints, totals averaged as it averages them,
in percent; `--joints shared` gives the mean over the joints both sides share instead.
Undefined figures (e.g. MOTA when no GT object was scored) print as "-" and are written
as null.
"""
from __future__ import annotations

NAME = "evaluate-tracking"
HELP = "PoseTrack mAP, MOTA, IDF1 and ID switches of predicted tracks against ground truth"


def add_arguments(parser):
    parser.add_argument("--gt", required=True, help="ground-truth PoseTrack JSON file or folder")
    parser.add_argument("--pred", required=True, help="predicted PoseTrack JSON file or folder")
    parser.add_argument("--metrics-out", default=None,
                        help="write all figures to this JSON file (percent; null = undefined)")
    parser.add_argument("--joints", default="poseval",
                        help="poseval (default: poseval's 15 joints, as it averages them), shared "
                             "(the joints both sides share and the prediction holds), or "
                             "comma-separated joint names")
    parser.add_argument("--pair-frames", choices=("name", "position"), default="name",
                        help="pair predicted with GT frames by image file name (default), or by "
                             "position (blind to names, as poseval; warns)")
    parser.add_argument("--no-poseval-quirks", action="store_true",
                        help="count the last frame of each sequence and do not add poseval's phantom "
                             "miss/false positive in frames without GT or predictions")


def run(args) -> int:
    from ..evaluation.posetrack import as_percent, evaluate, format_table
    from ..io.files import write_json_atomic
    from ..io.posetrack import read_sequences

    gt = read_sequences(args.gt)
    pred = read_sequences(args.pred)
    joints = args.joints if args.joints in ("poseval", "shared") else \
        [j.strip() for j in args.joints.split(",") if j.strip()]
    metrics = as_percent(evaluate(gt, pred, joints=joints, poseval_quirks=not args.no_poseval_quirks,
                                  frames_by_position=args.pair_frames == "position"))
    print(format_table(metrics, digits=2))
    print("\n" + _summary(metrics))
    for note in metrics["notes"]:
        print("note: " + note)
    if metrics["excluded_joints"]:
        print("not evaluated: " + ", ".join(f"{k} ({v})" for k, v in metrics["excluded_joints"].items()))
    if args.metrics_out:
        metrics.update(gt=str(args.gt), pred=str(args.pred), joint_selection=args.joints,
                       units="percent, as poseval reports; null = undefined")
        write_json_atomic(args.metrics_out, metrics)
        print(f"wrote {args.metrics_out}")
    return 0


def _summary(m: dict) -> str:
    def fig(key):
        return "undefined" if m.get(key) is None else f"{m[key]:.2f}"

    return (f"mAP {fig('mAP')}  MOTA {fig('MOTA')}  MOTP {fig('MOTP')}  precision {fig('precision')}  "
            f"recall {fig('recall')}  IDF1 {fig('IDF1')}  IDSW {m['IDSW']}   (%, {len(m['joints'])} "
            f"joints; {m['sequences']} sequences, {m['frames']} labelled frames)")
