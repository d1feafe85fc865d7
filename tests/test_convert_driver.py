"""The conversion driver: bad input is reported and skipped, shards, resume, CLI."""
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
from convert_testutil import read_dir, run_convert
from pose_tf.cli import main as cli_main
from pose_tf.data import records
from pose_tf.data.convert import shard_slices


def _synthetic_coco(root, n=6):
    """n small JPEGs with one person each, as a COCO keypoint file."""
    (root / "img").mkdir(parents=True)
    images, anns = [], []
    rng = np.random.default_rng(0)
    for i in range(n):
        # Noise, so that half a file still holds the headers and decodes partially.
        image = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "img" / f"{i:03d}.jpg"), image)
        images.append({"id": i + 1, "file_name": f"{i:03d}.jpg", "height": 40, "width": 50})
        kp = [0] * 51
        kp[15:18] = [10 + i, 12, 2]         # left shoulder
        anns.append({"id": 100 + i, "image_id": i + 1, "iscrowd": 0, "num_keypoints": 1,
                     "keypoints": kp, "bbox": [5, 5, 20, 30], "area": 400, "category_id": 1})
    data = {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person"}]}
    (root / "ann.json").write_text(json.dumps(data))
    return root / "ann.json", root / "img", data


def test_corrupt_images_and_malformed_entries_are_reported_and_skipped(tmp_path):
    ann, img, data = _synthetic_coco(tmp_path / "src")
    (img / "001.jpg").write_bytes(b"this is not a jpeg")                  # corrupt
    good = (img / "002.jpg").read_bytes()
    (img / "002.jpg").write_bytes(good[: len(good) // 2])                 # truncated
    os.remove(img / "003.jpg")                                            # missing
    data["annotations"][4]["keypoints"] = [1, 2, 3]                       # malformed entry
    data["annotations"].append({"id": 999, "image_id": 6, "iscrowd": 0,
                                "keypoints": [0] * 51, "bbox": "oops"})     # malformed bbox
    ann.write_text(json.dumps(data))
    summary, samples = run_convert("coco", ann, img, tmp_path / "out")
    assert sorted(samples) == ["000.jpg"]
    assert summary.images_written == 1
    assert summary.images_skipped == 3
    assert summary.annotation_problems == 2
    text = "\n".join(summary.problems)
    for needle in ("001.jpg", "002.jpg", "003.jpg", "annotation 104", "annotation 999",
                   "ann.json", "truncated", "not found", "keypoints", "bbox"):
        assert needle in text, needle
    np.testing.assert_array_equal(samples["000.jpg"].keypoints[0, 5], [10.5, 12.5, 2])   # continuous


def test_size_mismatch_is_reported(tmp_path):
    ann, img, data = _synthetic_coco(tmp_path / "src", n=2)
    data["images"][1]["width"] = 99
    ann.write_text(json.dumps(data))
    summary, samples = run_convert("coco", ann, img, tmp_path / "out")
    assert sorted(samples) == ["000.jpg"]
    assert any("001.jpg" in p and "50x40" in p for p in summary.problems)


def test_shards_split_and_shard_index_runs_match_one_run(tmp_path):
    ann, img, _ = _synthetic_coco(tmp_path / "src", n=7)
    assert shard_slices(7, 3) == [(0, 2), (2, 4), (4, 7)]
    _, whole = run_convert("coco", ann, img, tmp_path / "one", num_shards=3, variants=("rot90",))
    for index in range(3):      # as three cluster jobs
        run_convert("coco", ann, img, tmp_path / "many", num_shards=3, shard_index=index,
                    variants=("rot90",))
    parts = read_dir(tmp_path / "many", "coco-img")
    assert sorted(parts) == sorted(whole) and len(whole) == 7
    for name, s in whole.items():
        assert records.encode(s) == records.encode(parts[name])
    rotated = read_dir(tmp_path / "many", "coco-img-rot90")
    assert len(rotated) == 7 and all((s.height, s.width) == (50, 40) for s in rotated.values())
    names = sorted(n for n in os.listdir(tmp_path / "many") if not n.startswith("."))
    assert names[0] == "coco-img-00000-of-00003.tfrecord" and len(names) == 6
    manifests = sorted(n for n in os.listdir(tmp_path / "many") if n.startswith("."))
    assert manifests == [f".{n}.manifest.json" for n in names]      # one per shard, hidden


def test_resume_skips_finished_shards_and_ignores_temp_files(tmp_path):
    ann, img, _ = _synthetic_coco(tmp_path / "src", n=6)
    out = tmp_path / "out"
    run_convert("coco", ann, img, out, num_shards=3)
    paths = [records.shard_path(out, "coco-img", i, 3) for i in range(3)]
    before = [os.stat(p).st_mtime_ns for p in paths]
    # Simulate a run killed while writing shard 1: the final file is gone, its temp remains.
    os.remove(paths[1])
    with open(paths[1] + ".tmp-424242", "wb") as f:
        f.write(b"half a shard")
    time.sleep(0.01)
    summary, samples = run_convert("coco", ann, img, out, num_shards=3)
    assert summary.shards_skipped == 2 and summary.shards_written == 1
    assert summary.images_written == 2          # only shard 1's images were converted
    assert [os.stat(p).st_mtime_ns for p in (paths[0], paths[2])] == [before[0], before[2]]
    assert not [f for f in os.listdir(out) if ".tmp-" in f]
    assert len(samples) == 6
    # Asking for a variant later converts only that variant's shards.
    summary = run_convert("coco", ann, img, out, num_shards=3, variants=("flip",))[0]
    assert summary.shards_written == 3 and summary.records_written == 6
    assert [os.stat(p).st_mtime_ns for p in (paths[0], paths[2])] == [before[0], before[2]]


def test_killed_conversion_resumes(tmp_path):
    """SIGKILL a real `pose-tf convert` mid-run, run it again: same records as one run."""
    root = need(COCO_MINI)
    args = [sys.executable, "-m", "pose_tf", "convert", "coco",
            "--annotations", str(root / "annotations" / "person_keypoints_val2017.json"),
            "--images", str(root / "val2017"), "--num-shards", "8", "--workers", "1",
            "--variants", "flip,rot90,rot180,rot270", "--no-progress"]
    out = tmp_path / "killed"
    proc = subprocess.Popen(args + ["--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = records.shard_path(out, "coco-val2017", 0, 8)
    deadline = time.time() + 120
    while not os.path.exists(first) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(f for f in os.listdir(out) if f.endswith(".tfrecord"))
    if len(finished) == 40:
        pytest.skip("conversion finished before it could be killed")
    assert finished, "no shard finished before the kill"
    assert [f for f in os.listdir(out) if ".tmp-" in f], "expected the killed run's temp file"
    done = subprocess.run(args + ["--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"already finished {len(finished) // 5}" in done.stdout or \
        f"already finished {len(finished) // 5 + 1}" in done.stdout, done.stdout
    assert not [f for f in os.listdir(out) if ".tmp-" in f]
    resumed = read_dir(out, "coco-val2017")
    assert len(resumed) == 79
    _, clean = run_convert("coco", root / "annotations" / "person_keypoints_val2017.json",
                           root / "val2017", tmp_path / "clean", num_shards=8)
    for name, s in clean.items():
        assert records.encode(s) == records.encode(resumed[name])
    assert len(read_dir(out, "coco-val2017-rot270")) == 79


def test_cli_errors_name_the_problem(tmp_path, capsys):
    ann, img, _ = _synthetic_coco(tmp_path / "src", n=1)
    base = ["convert", "coco", "--annotations", str(ann), "--images", str(img),
            "--out", str(tmp_path / "out"), "--no-progress"]
    assert cli_main(base + ["--variants", "rot45"]) == 2
    assert "rot45" in capsys.readouterr().err
    assert cli_main(base + ["--shard-index", "1"]) == 2
    assert "--num-shards" in capsys.readouterr().err
    assert cli_main(base + ["--num-shards", "2", "--shard-index", "5"]) == 2
    assert "0..1" in capsys.readouterr().err
    missing = base.copy()
    missing[3] = str(tmp_path / "nope.json")
    assert cli_main(missing) == 2
    assert "nope.json" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{not json")
    missing[3] = str(tmp_path / "bad.json")
    assert cli_main(missing) == 2
    assert "bad.json" in capsys.readouterr().err
    assert cli_main(base + ["--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "written 1" in out and "records written 1" in out
