"""`pose-tf` from the outside: bad input gives one clear line naming the file, never a
traceback; good runs write drawn output and JSON."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import COCO_MINI, ROOT, need


def pose_tf(*args, cwd=ROOT):
    proc = subprocess.run([sys.executable, "-m", "pose_tf", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(rc, err, *needles):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("pose-tf ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def save_tiny_network(path, channels=58):
    """A real (untrained) Keras network with our output contract (58 channels: coco17),
    so no data is needed; another `channels` makes one that does not fit its layout."""
    import keras

    inp = keras.Input((None, None, 3), name="image")
    x = keras.layers.AveragePooling2D(8)(keras.layers.Rescaling(1 / 255.0)(inp))
    out = keras.layers.Conv2D(channels, 1, bias_initializer="zeros")(x)
    keras.Model(inp, [out]).save(path)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_network(tmp_path_factory.mktemp("model") / "tiny.keras")


@pytest.fixture
def good_jpeg(tmp_path):
    path = tmp_path / "good.jpg"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8))
    return path


def test_help_lists_the_verbs():
    rc, out, _ = pose_tf("--help")
    assert rc == 0 and "demo" in out and "evaluate" in out


def test_missing_input(tiny_model, tmp_path):
    rc, _, err = pose_tf("demo", tmp_path / "nope.jpg", "--model", tiny_model)
    assert_one_line_error(rc, err, "input not found", "nope.jpg")


def test_missing_model(good_jpeg, tmp_path):
    rc, _, err = pose_tf("demo", good_jpeg, "--model", tmp_path / "missing.keras")
    assert_one_line_error(rc, err, "model not found", "missing.keras")


def test_non_image_file(tiny_model, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture")
    rc, _, err = pose_tf("demo", bad, "--model", tiny_model, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "notes.jpg", "not a readable image")


def test_truncated_jpeg(tiny_model, good_jpeg, tmp_path):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good_jpeg.read_bytes()[: good_jpeg.stat().st_size // 2])
    rc, _, err = pose_tf("demo", cut, "--model", tiny_model, "--out", tmp_path / "o")
    assert_one_line_error(rc, err, "cut.jpg", "truncated JPEG")


def test_empty_folder(tiny_model, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _, err = pose_tf("demo", tmp_path / "empty", "--model", tiny_model)
    assert_one_line_error(rc, err, "empty", "no images in folder")


def test_folder_skips_bad_images_with_a_warning(tiny_model, good_jpeg, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(good_jpeg.read_bytes())
    (folder / "b.jpg").write_bytes(good_jpeg.read_bytes()[:300])
    rc, out, err = pose_tf("demo", folder, "--model", tiny_model, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "b.jpg" in err and "truncated JPEG" in err and "Traceback" not in err
    assert "skipped 1 unreadable image(s) of 2" in out
    assert (tmp_path / "o/a.jpg").exists() and not (tmp_path / "o/b.jpg").exists()
    people = json.loads((tmp_path / "o/a.json").read_text())["people"]
    assert all(len(p["keypoints"]) == 51 and len(p["bbox"]) == 4 for p in people)


def test_video_that_ends_early_keeps_what_it_read(tiny_model, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(1)
    for _ in range(20):
        writer.write(rng.integers(0, 255, (48, 64, 3), np.uint8))
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: int(len(data) * 0.5)])   # header still promises 20 frames
    rc, out, err = pose_tf("demo", video, "--model", tiny_model, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "ended early" in err and "Traceback" not in err
    frames = json.loads((tmp_path / "o/clip.json").read_text())["frames"]
    assert 0 < len(frames) < 20
    assert (tmp_path / "o/clip.mp4").exists()


def test_evaluate_with_unknown_image_ids(tiny_model, tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [], "categories": [{"id": 1, "name": "person"}],
                               "annotations": [{"id": 1, "image_id": 42, "category_id": 1,
                                                "iscrowd": 0, "num_keypoints": 0, "area": 1.0,
                                                "bbox": [0, 0, 1, 1], "keypoints": [0] * 51}]}))
    rc, _, err = pose_tf("evaluate", "--model", tiny_model, "--annotations", ann,
                         "--images", tmp_path)
    assert_one_line_error(rc, err, "ann.json", "unknown image id")


def test_evaluate_writes_metrics(tiny_model, tmp_path):
    need(COCO_MINI)
    rc, out, err = pose_tf("evaluate", "--model", tiny_model,
                           "--annotations", COCO_MINI / "annotations/person_keypoints_val2017.json",
                           "--images", COCO_MINI / "val2017", "--metrics-out", tmp_path / "m.json",
                           "--results-out", tmp_path / "r.json")
    assert rc == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics) == {"AP", "AP50", "AP75", "APm", "APl", "AR", "mean_oks", "detect_rate"}
