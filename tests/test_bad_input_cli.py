"""Bad input to `pose-tf` from the outside: unusable output paths, meaningless numbers,
malformed annotations, a network that does not fit its layout, an interrupted video run and
a broken frame in a tracked folder. Each is one line naming the file, record or key, exit
status 2 (130/143 for SIGINT/SIGTERM), and nothing half-written left behind."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from conftest import COCO_MINI, ROOT, need
from test_cli import (assert_one_line_error, good_jpeg, pose_tf, save_tiny_network,  # noqa: F401
                      tiny_model)

ANN = COCO_MINI / "annotations/person_keypoints_val2017.json"


def write_frames(folder, count, size_hw=(48, 64)):
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), rng.integers(0, 255, (*size_hw, 3), np.uint8))
    return sorted(folder.iterdir())


def write_video(path, frames, size_wh=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size_wh)
    rng = np.random.default_rng(3)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (size_wh[1], size_wh[0], 3), np.uint8))
    writer.release()
    return path


def three_images_annotations(tmp_path, change):
    """coco_mini's first three images with their people, after `change(data)`."""
    data = json.loads(need(ANN).read_text())
    data["images"] = data["images"][:3]
    keep = {img["id"] for img in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    change(data)
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(data))   # json writes a NaN as NaN, as a broken tool would
    return path


# ------------------------------------------------------------------ --out


@pytest.mark.parametrize("verb", ["demo", "track", "evaluate"])
def test_an_output_that_is_a_file_is_one_line(verb, tiny_model, good_jpeg, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    if verb == "demo":
        args = ["demo", good_jpeg, "--out", taken]
    elif verb == "track":
        frames = tmp_path / "frames"
        write_frames(frames, 2)
        args = ["track", frames, "--out", taken]
    else:
        args = ["evaluate", "--annotations", need(ANN), "--images", COCO_MINI / "val2017",
                "--metrics-out", taken / "m.json"]
    rc, _, err = pose_tf(*args, "--model", tiny_model)
    flag = "--metrics-out" if verb == "evaluate" else "--out"
    assert_one_line_error(rc, err, flag, str(taken), "is a file, not a folder")
    assert taken.read_text() == "not a folder"


def test_metrics_out_that_is_a_folder_is_one_line(tiny_model, tmp_path):
    rc, _, err = pose_tf("evaluate", "--model", tiny_model, "--annotations", need(ANN),
                         "--images", COCO_MINI / "val2017", "--metrics-out", tmp_path)
    assert_one_line_error(rc, err, "--metrics-out", str(tmp_path), "is a folder, not a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway; "
                    "test_an_os_error_with_a_file_name_is_one_line covers what the system refuses")
def test_a_read_only_output_folder_is_one_line(tiny_model, good_jpeg, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        rc, _, err = pose_tf("demo", good_jpeg, "--model", tiny_model, "--out", locked / "o")
    finally:
        locked.chmod(0o755)
    assert_one_line_error(rc, err, "--out", str(locked), "not writable")
    assert list(locked.iterdir()) == []


def test_an_os_error_with_a_file_name_is_one_line(monkeypatch, capsys, tmp_path):
    """What no early check catches (a folder made read-only meanwhile, a full disk) is
    reported by cli.main: the system's reason and the file, exit 2."""
    from pose_tf import cli
    from pose_tf.commands import demo

    def refused(args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "o" / "a.json"))

    monkeypatch.setattr(cli, "_quiet_tensorflow_import", lambda: None)
    monkeypatch.setattr(demo, "run", refused)
    assert cli.main(["demo"]) == 2
    assert capsys.readouterr().err.strip() == \
        f"pose-tf demo: error: Permission denied: {tmp_path / 'o' / 'a.json'}"

    def bug(args):   # no file name: a programming error keeps its traceback
        raise OSError("something internal")

    monkeypatch.setattr(demo, "run", bug)
    with pytest.raises(OSError, match="something internal"):
        cli.main(["demo"])


# ------------------------------------------------------------------ numbers


BAD_NUMBERS = [
    (["demo", "--scales", "-1"], "--scales"),
    (["demo", "--scales", "0"], "--scales"),
    (["demo", "--scales", "1,abc"], "--scales"),
    (["demo", "--max-frames", "-1"], "--max-frames"),
    (["demo", "--max-frames", "two"], "--max-frames"),
    (["track", "x", "--out", "o", "--max-frames", "-1"], "--max-frames"),
    (["track", "x", "--out", "o", "--fps", "0"], "--fps"),
    (["evaluate", "--annotations", "a", "--images", "i", "--scales", "nan"], "--scales"),
    (["evaluate", "--annotations", "a", "--images", "i", "--bootstrap", "1"], "--bootstrap"),
    (["export", "--format", "tflite", "--out", "o", "--calibration-count", "0"], "--calibration-count"),
]


@pytest.mark.parametrize("argv,flag", BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_meaningless_numbers_are_refused_while_parsing(argv, flag, capsys):
    from pose_tf.cli import build_parser

    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(argv)
    assert stop.value.code == 2
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("pose-tf ")]
    assert len(lines) == 1 and f"argument {flag}:" in lines[0] and repr(argv[-1]) in lines[0], lines


def test_good_numbers_still_parse():
    from pose_tf.cli import build_parser
    from pose_tf.commands._model_args import parse_scales

    args = build_parser().parse_args(["demo", "--scales", "1,0.75", "--max-frames", "0"])
    assert parse_scales(args.scales) == (1.0, 0.75) and args.max_frames == 0
    args = build_parser().parse_args(["track", "x", "--out", "o", "--fps", "12.5", "--max-frames", "3"])
    assert args.fps == 12.5 and args.max_frames == 3


# ------------------------------------------------------------------ annotations


@pytest.mark.parametrize("change,needles", [
    (lambda d: d["annotations"][0]["keypoints"].__setitem__(3, float("nan")),
     ["annotations[0] (id ", "'keypoints'[3] is nan, not a finite number"]),
    (lambda d: d.update(categories=[]), ["'categories' is empty"]),
    (lambda d: d.update(images="val2017"), ["'images' is a string, expected a list of objects"]),
    (lambda d: d["images"][1].pop("file_name"), ["images[1] (id ", "missing key 'file_name'"]),
], ids=["nan-keypoint", "no-categories", "images-a-string", "no-file_name"])
def test_evaluate_refuses_a_malformed_ground_truth(change, needles, tiny_model, tmp_path):
    ann = three_images_annotations(tmp_path, change)
    rc, _, err = pose_tf("evaluate", "--model", tiny_model, "--annotations", ann,
                         "--images", COCO_MINI / "val2017", "--metrics-out", tmp_path / "m.json")
    assert_one_line_error(rc, err, str(ann), *needles)
    assert not (tmp_path / "m.json").exists()


def test_a_bad_against_file_is_refused_before_the_images_are_read(tiny_model, tmp_path):
    ann = three_images_annotations(tmp_path, lambda d: None)
    against = tmp_path / "other.json"
    against.write_text(json.dumps([{"image_id": 7, "keypoints": [0] * 51, "score": 1.0}]))
    common = ("evaluate", "--model", tiny_model, "--annotations", ann, "--images", tmp_path / "nowhere")
    rc, _, err = pose_tf(*common, "--against", against)
    assert_one_line_error(rc, err, "--against needs --bootstrap")
    rc, _, err = pose_tf(*common, "--bootstrap", "5", "--against", against)
    assert_one_line_error(rc, err, str(against), "[0]: image_id 7 is not an image of the ground truth")


def test_evaluate_bootstrap_prints_and_writes_the_spread(tiny_model, tmp_path):
    """Wiring of --bootstrap/--against on three images: the results file of one run is the
    baseline of the next, so the paired difference is exactly 0."""
    ann = three_images_annotations(tmp_path, lambda d: None)
    args = ("evaluate", "--model", tiny_model, "--annotations", ann, "--images", COCO_MINI / "val2017")
    rc, _, err = pose_tf(*args, "--results-out", tmp_path / "r.json")
    assert rc == 0, err
    rc, out, err = pose_tf(*args, "--bootstrap", "4", "--against", tmp_path / "r.json",
                           "--metrics-out", tmp_path / "m.json")
    assert rc == 0, err
    assert "(4 draws of the images)" in out and "AP minus --against: +0.000" in out
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["AP_diff"] == 0 and metrics["AP_diff_se"] == 0 and "AP_se" in metrics


# ------------------------------------------------------------------ networks


def test_a_network_that_does_not_fit_its_layout_is_one_line(good_jpeg, tmp_path):
    model = save_tiny_network(tmp_path / "wide57.keras", channels=57)
    rc, _, err = pose_tf("demo", good_jpeg, "--model", model, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, str(model), "outputs 57 channels", "layout coco17 expects 58")
    assert not (tmp_path / "o").exists()


def test_a_truncated_keras_file_is_not_readable_not_missing(tiny_model, good_jpeg, tmp_path):
    cut = tmp_path / "cut.keras"
    cut.write_bytes(tiny_model.read_bytes()[: tiny_model.stat().st_size * 2 // 3])
    rc, _, err = pose_tf("demo", good_jpeg, "--model", cut, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, str(cut), "not a readable Keras file")
    assert "not found" not in err


# ------------------------------------------------------------------ interrupted video runs


@pytest.mark.parametrize("verb,sig,status", [
    ("demo", signal.SIGTERM, 143), ("demo", signal.SIGINT, 130),
    ("track", signal.SIGTERM, 143), ("track", signal.SIGINT, 130)],
    ids=["demo-SIGTERM", "demo-SIGINT", "track-SIGTERM", "track-SIGINT"])
def test_a_signal_mid_video_leaves_no_temporary_file(verb, sig, status, tiny_model, tmp_path):
    video = write_video(tmp_path / "clip.avi", 3000)   # far more than the run gets through
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pose_tf", verb, str(video), "--model", str(tiny_model), "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell may start background jobs with SIGINT ignored; a user's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob(".clip.tmp*.mp4")):      # the video is being written
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    word = "terminated" if sig == signal.SIGTERM else "interrupted"
    assert f"pose-tf {verb}: {word}" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == []


def test_sigterm_unwinds_only_while_a_command_runs(monkeypatch):
    from pose_tf import cli
    from pose_tf.commands import demo

    before = signal.getsignal(signal.SIGTERM)

    def killed(args):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)   # the handler raises before this ends
        return 0

    monkeypatch.setattr(cli, "_quiet_tensorflow_import", lambda: None)
    monkeypatch.setattr(demo, "run", killed)
    assert cli.main(["demo"]) == 143
    assert signal.getsignal(signal.SIGTERM) == before


def test_help_documents_the_exit_status():
    from pose_tf.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "130 interrupted (SIGINT), 143 terminated (SIGTERM)" in text


def test_video_writer_opens_on_the_first_frame_and_cleans_up(tmp_path):
    from pose_tf.io.video import VideoWriter

    with VideoWriter(tmp_path / "none.mp4", 10):
        pass                                   # no frame: no file
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "half.mp4", 10) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            assert [p.name for p in tmp_path.iterdir()] == [f".half.tmp{os.getpid()}.mp4"]
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "whole.mp4", 10) as writer:
        for _ in range(3):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    capture = cv2.VideoCapture(str(tmp_path / "whole.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (64, 48)
    capture.release()
    assert [p.name for p in tmp_path.iterdir()] == ["whole.mp4"]


# ------------------------------------------------------------------ a broken frame in track


def test_track_skips_a_truncated_frame_like_demo(tiny_model, tmp_path):
    files = write_frames(tmp_path / "seq", 4)
    files[1].write_bytes(files[1].read_bytes()[:300])
    out = tmp_path / "o"
    rc, stdout, err = pose_tf("track", tmp_path / "seq", "--model", tiny_model, "--out", out)
    assert rc == 0, err
    warnings = [l for l in err.splitlines() if "WARNING" in l]
    assert len(warnings) == 1 and "00001.jpg" in warnings[0] and "truncated JPEG" in warnings[0]
    assert "skipped 1 unreadable image(s) of 4" in stdout
    doc = json.loads((out / "seq.json").read_text())
    # the frame keeps its place (the JSON pairs with a GT frame by frame), with nobody in it
    assert [img["file_name"] for img in doc["images"]] == [f"seq/{f.name}" for f in files]
    broken = doc["images"][1]["id"]
    assert not [a for a in doc["annotations"] if a["image_id"] == broken]
    capture = cv2.VideoCapture(str(out / "seq.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()


def test_track_of_a_folder_without_one_readable_frame_is_one_line(tiny_model, tmp_path):
    for f in write_frames(tmp_path / "seq", 2):
        f.write_bytes(f.read_bytes()[:300])
    rc, _, err = pose_tf("track", tmp_path / "seq", "--model", tiny_model, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "seq", "none of the 2 image(s) could be read")
    assert not (tmp_path / "o").exists()
