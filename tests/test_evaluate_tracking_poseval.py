"""`pose-tf evaluate-tracking` against what the official poseval printed and wrote for the
same files (../shared/data/poseval_golden, see its README), and its refusals of input
poseval cannot score."""
import json

import numpy as np
import pytest

from conftest import DATA, need
from pose_tf.cli import main
from pose_tf.evaluation.posetrack import as_percent, evaluate
from pose_tf.io.posetrack import Frame, Person, Sequence, read_sequences, to_posetrack18

GOLDEN = DATA / "poseval_golden"
BONN_GT = DATA / "posetrack_bonn" / "tracks_060470979.json"
PRED18 = GOLDEN / "posetrack18_prediction_060470979.json"

# case -> (GT, prediction, poseval's output folder)
CASES = {
    "prediction": (BONN_GT, PRED18, "prediction"),
    "prediction_annolist": (GOLDEN / "annolist" / "gt_060470979.json",
                            GOLDEN / "annolist" / "pred_060470979.json", "prediction"),
    "gt_as_prediction": (BONN_GT, BONN_GT, "gt_as_prediction"),
    "prediction_vs_gt_ignore": (GOLDEN / "annolist" / "gt_ignore_060470979.json", PRED18,
                                "prediction_vs_gt_ignore"),
}
# our per-joint key -> (poseval file, its key); poseval lists 15 joints, then the total
FIGURES = {"AP": ("AP", "ap"), "AP_precision": ("AP", "pre"), "AP_recall": ("AP", "rec"),
           "MOTA": ("MOT", "mota"), "MOTP": ("MOT", "motp"), "precision": ("MOT", "pre"),
           "recall": ("MOT", "rec")}
TOTALS = {"AP": "mAP"}


def _golden(folder):
    out = GOLDEN / "poseval_out" / folder
    return {"AP": json.loads(need(out / "total_AP_metrics.json").read_text()),
            "MOT": json.loads(need(out / "total_MOT_metrics.json").read_text())}


def _defined(values):
    return np.array([np.nan if v is None else v for v in values], float)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_poseval_figure_is_reproduced(case):
    gt_path, pred_path, folder = CASES[case]
    golden = _golden(folder)
    m = as_percent(evaluate(read_sequences(need(gt_path)), read_sequences(need(pred_path)),
                            joints="poseval"))
    assert len(m["per_joint"]["joint"]) == 15
    for ours, (kind, key) in FIGURES.items():
        want = np.array(golden[kind][key], float)          # 15 joints + total, NaN = undefined
        got = np.append(_defined(m["per_joint"][ours]), _defined([m[TOTALS.get(ours, ours)]]))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{case} {ours}")
        np.testing.assert_allclose(got, want, atol=0.01, equal_nan=True, err_msg=f"{case} {ours}")


def test_degenerate_nose_mota_is_poseval_s_and_flagged():
    """Ignore regions empty one frame of GT people: poseval scores a phantom object there,
    the nose's only object, so every predicted nose is a false positive against it."""
    gt, pred = (read_sequences(need(p)) for p in CASES["prediction_vs_gt_ignore"][:2])
    m = as_percent(evaluate(gt, pred, joints="poseval"))
    nose = m["per_joint"]["joint"].index("nose")
    assert m["per_joint"]["MOTA"][nose] == pytest.approx(-11900.0)
    assert m["MOTA"] == pytest.approx(-774.20, abs=0.01)
    assert any(n.startswith("nose: MOTA counts only poseval's phantom objects") for n in m["notes"])
    clean = evaluate(gt, pred, joints="poseval", poseval_quirks=False)
    assert clean["per_joint"]["MOTA"][nose] is None


def test_command_prints_and_writes_poseval_totals(tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["evaluate-tracking", "--gt", str(need(BONN_GT)), "--pred", str(need(PRED18)),
                 "--metrics-out", str(out)]) == 0
    assert "mAP 41.84  MOTA 21.88  MOTP 44.16" in capsys.readouterr().out
    text = out.read_text()
    m = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert (round(m["mAP"], 2), round(m["MOTA"], 2), round(m["MOTP"], 2)) == (41.84, 21.88, 44.16)
    golden = _golden("prediction")
    np.testing.assert_allclose(_defined(m["per_joint"]["AP"]), golden["AP"]["ap"][:15],
                               atol=0.01, equal_nan=True)


def test_shared_joints_keep_the_former_figures(tmp_path, capsys):
    assert main(["evaluate-tracking", "--gt", str(need(BONN_GT)), "--pred", str(need(PRED18)),
                 "--joints", "shared"]) == 0
    text = capsys.readouterr().out
    assert "mAP 48.81  MOTA 25.52" in text and "12 joints" in text


# --------------------------------------------------------------------------------------
# Refusals: one line naming the file and the frame or key, exit status 2

HEAD = (0.0, 0.0, 10.0, 10.0)
NAMES = ("left_shoulder", "right_shoulder")


def _sequence(tracks_per_frame, scores=True, names=None):
    frames = []
    for i, tracks in enumerate(tracks_per_frame):
        people = [Person([[100 * k, 50, 1], [100 * k + 20, 50, 1]], t,
                         [0.9, 0.9] if scores else None, HEAD) for k, t in enumerate(tracks)]
        frames.append(Frame(names[i] if names else f"{i:05d}.jpg", i, i, people))
    return Sequence("clip", NAMES, frames)


def _write(path, seq, edit=None):
    doc = to_posetrack18(seq)
    if edit:
        edit(doc)
    path.write_text(json.dumps(doc))          # json writes NaN/Infinity literals as given
    return str(path)


def _refused(tmp_path, capsys, pred_edit=None, pred=None, extra=()):
    gt = _write(tmp_path / "gt.json", _sequence([[1, 2]] * 3, scores=False))
    pr = _write(tmp_path / "pred.json", pred or _sequence([[7, 8]] * 3), pred_edit)
    assert main(["evaluate-tracking", "--gt", gt, "--pred", pr, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_duplicate_track_ids_are_refused(tmp_path, capsys):
    err = _refused(tmp_path, capsys, pred=_sequence([[7, 8], [7, 7], [7, 8]]))
    assert "pred.json: prediction frame '00001.jpg': track_id 7 appears twice" in err


def test_track_ids_poseval_cannot_hold_are_refused(tmp_path, capsys):
    err = _refused(tmp_path, capsys, pred=_sequence([[7, 8], [7, 10000], [7, 8]]))
    assert "pred.json: prediction frame '00001.jpg': track_id 10000 outside 0..9999" in err


def test_nan_or_infinite_keypoints_and_scores_are_refused(tmp_path, capsys):
    def nan_keypoint(doc):
        doc["annotations"][3]["keypoints"][0] = float("nan")

    def inf_score(doc):
        doc["annotations"][4]["scores"][1] = float("inf")

    err = _refused(tmp_path, capsys, nan_keypoint)
    assert "pred.json: annotations[3]: 'keypoints' holds NaN or infinity" in err
    err = _refused(tmp_path, capsys, inf_score)
    assert "pred.json: annotations[4]: 'scores' holds NaN, infinity or null" in err


def test_frames_without_a_namesake_are_refused_unless_paired_by_position(tmp_path, capsys, caplog):
    renamed = _sequence([[1, 2]] * 3, names=["a.jpg", "b.jpg", "c.jpg"])
    err = _refused(tmp_path, capsys, pred=renamed)
    assert "pred.json: frame 'a.jpg' has no GT frame of that name in" in err
    assert "--pair-frames position" in err
    gt = _write(tmp_path / "gt.json", _sequence([[1, 2]] * 3, scores=False))
    assert main(["evaluate-tracking", "--gt", gt, "--pred", str(tmp_path / "pred.json"),
                 "--pair-frames", "position"]) == 0
    assert "MOTA 100.00" in capsys.readouterr().out
    assert "frames paired by position" in caplog.text


def test_one_frame_sequence_writes_null_not_nan(tmp_path, capsys):
    gt = _write(tmp_path / "gt.json", _sequence([[1, 2]], scores=False))
    pr = _write(tmp_path / "pred.json", _sequence([[7, 8]]))
    out = tmp_path / "m.json"
    assert main(["evaluate-tracking", "--gt", gt, "--pred", pr, "--metrics-out", str(out)]) == 0
    assert "MOTA undefined" in capsys.readouterr().out
    m = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert m["MOTA"] is None and m["mAP"] == pytest.approx(100 * 2 / 15)   # 2 of 15 joints
    assert "null = undefined" in m["units"]
