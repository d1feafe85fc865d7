"""The tracking verbs: fit-tracker, evaluate-tracking, track (with the peer network)."""
import json
import shutil

from conftest import DATA, PEER_GRAPH, need
from pose_tf.cli import main
from pose_tf.core.config import load_config
from pose_tf.io.posetrack import read_posetrack18
from pose_tf.tracking.tracker import TrackerConfig

BONN = DATA / "posetrack_bonn"


def test_evaluate_tracking_gt_against_itself(tmp_path, capsys):
    clip = need(BONN / "tracks_060470979.json")
    out = tmp_path / "m.json"
    assert main(["evaluate-tracking", "--gt", str(clip), "--pred", str(clip), "--metrics-out", str(out)]) == 0
    m = json.loads(out.read_text())
    # poseval's figures (poseval_golden/gt_as_prediction): its 15 joints, in percent; the
    # nose is in none of Bonn's annotations, so it scores AP 0 and pulls mAP to 14/15.
    assert m["MOTA"] == 100.0 and round(m["mAP"], 2) == 93.33 and m["IDF1"] == 100.0 and m["IDSW"] == 0
    assert len(m["per_joint"]["MOTA"]) == 15
    assert "MOTA 100.00" in capsys.readouterr().out


def test_evaluate_tracking_missing_prediction_is_a_one_line_error(tmp_path, capsys):
    clip = need(BONN / "tracks_060470979.json")
    assert main(["evaluate-tracking", "--gt", str(clip), "--pred", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "none.json" in err and "Traceback" not in err


def test_fit_tracker_on_a_posetrack_file(tmp_path):
    clip = need(BONN / "tracks_060470979.json")
    out = tmp_path / "tracker.yaml"
    assert main(["fit-tracker", str(clip), "--levels", "low", "--out", str(out)]) == 0
    config = load_config(out, TrackerConfig)
    assert "tracks_060470979.json" in config.fitted_on
    assert any(w != 0 for w in config.weights)


def test_fit_tracker_split_needs_split_information(tmp_path, capsys):
    clip = need(BONN / "tracks_060470979.json")
    assert main(["fit-tracker", str(clip), "--split", "train", "--out", str(tmp_path / "t.yaml")]) == 2
    assert "--split" in capsys.readouterr().err


def test_track_command_on_bonn_frames(tmp_path, capsys):
    frames = need(BONN / "frames_060470979")
    graph = need(PEER_GRAPH)
    src = tmp_path / "frames"
    src.mkdir()
    for f in sorted(frames.glob("*.jpg"))[:4]:      # a few frames, outside the repository
        shutil.copy(f, src / f.name)
    out = tmp_path / "out"
    assert main(["track", str(src), "--model", str(graph), "--layout", "openpose18",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tracking" in text and "network" in text
    seq = read_posetrack18(out / "frames.json")
    assert [f.file_name for f in seq.frames] == [f"frames/{i:05d}.jpg" for i in range(1, 5)]
    assert sum(len(f.people) for f in seq.frames) > 0
    assert all(p.track_id is not None and p.scores is not None for f in seq.frames for p in f.people)
    assert (out / "frames.mp4").stat().st_size > 0


def test_track_pipelined_equals_sequential_with_aggregation_and_smoothing(tmp_path):
    """The video path's two runs give the same PoseTrack file, and the file says what
    was applied; --no-smooth changes the keypoints and says so."""
    frames = need(BONN / "frames_060470979")
    clip = tmp_path / "clip"
    clip.mkdir()
    for path in sorted(frames.iterdir())[:5]:
        shutil.copy(path, clip / path.name)
    outputs = {}
    for name, extra in {"pipelined": [], "sequential": ["--no-pipeline"], "raw": ["--no-smooth"]}.items():
        out = tmp_path / name
        assert main(["track", str(clip), "--out", str(out), "--no-video", "--temporal", "2",
                     "--temporal-mode", "offline"] + extra) == 0
        outputs[name] = json.loads((out / "clip.json").read_text())
    assert outputs["pipelined"] == outputs["sequential"]
    info = outputs["pipelined"]["info"]["pose_tf"]
    assert info["smoothing"]["filter"] == "one_euro" and info["temporal"]["mode"] == "offline"
    assert info["precision"] in ("float32", "bfloat16")
    assert outputs["raw"]["info"]["pose_tf"]["smoothing"] is None
    assert outputs["raw"]["annotations"] != outputs["pipelined"]["annotations"]
    assert len(outputs["pipelined"]["images"]) == 5
