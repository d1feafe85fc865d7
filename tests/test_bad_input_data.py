"""Bad input data: image names that lead outside --images (every converter, evaluate), the
shared helper that decides it, and an --out that cannot take shards."""
import builtins
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT
from convert_testutil import run_convert
from pose_tf.cli import main as cli_main
from pose_tf.core.errors import PoseTfError
from pose_tf.core.keypoints import JOINT_SETS
from pose_tf.io.files import inside_folder, path_in_folder

SECRET = "secret.jpg"       # a valid JPEG outside --images: today's converter would ship it


def _jpeg(path, h=30, w=40, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    cv2.imwrite(str(path), image)


@pytest.fixture
def opened(monkeypatch):
    """Real paths of every file opened through `open` from here on (the converter reads
    images with it, in this process when workers=1)."""
    seen = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    return seen


@pytest.fixture
def tree(tmp_path):
    """tmp/images (with good.jpg) and tmp/outside/secret.jpg next to it."""
    _jpeg(tmp_path / "images" / "good.jpg")
    _jpeg(tmp_path / "outside" / SECRET, seed=1)
    return tmp_path


# ---------------------------------------------------------------------------- the helper

def test_path_in_folder_keeps_names_inside_and_refuses_the_rest(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "out_link")
    os.symlink(root / "sub", root / "in_link")
    assert path_in_folder(root, "sub/a.jpg") == str(root / "sub" / "a.jpg")
    assert path_in_folder(root, "/sub/a.jpg") == str(root / "sub" / "a.jpg")      # re-rooted
    assert path_in_folder(root, "sub\\a.jpg") == str(root / "sub" / "a.jpg")
    assert path_in_folder(root, "sub/../a.jpg") == str(root / "sub" / ".." / "a.jpg")
    assert path_in_folder(root, "in_link/a.jpg") == str(root / "in_link" / "a.jpg")
    for name in ("../outside/x.jpg", "sub/../../x.jpg", "out_link/x.jpg", "/../../etc/passwd"):
        with pytest.raises(PoseTfError, match=r"leads outside .*images; refused") as err:
            path_in_folder(root, name)
        assert str(err.value).startswith(f"{name}: ") and "\n" not in str(err.value)
    assert inside_folder(root, root) and not inside_folder(root, tmp_path)


# ---------------------------------------------------------------------------- every converter

def _coco_style(tree):
    data = {"images": [{"id": 1, "file_name": f"../outside/{SECRET}", "height": 30, "width": 40},
                       {"id": 2, "file_name": "/good.jpg", "height": 30, "width": 40}],
            "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    (tree / "ann.json").write_text(json.dumps(data))
    return tree / "ann.json", tree / "images"


def _aic_official(tree):
    (tree / "ann.json").write_text(json.dumps([
        {"image_id": "../outside/secret", "keypoint_annotations": {}, "human_annotations": {}},
        {"image_id": "good", "keypoint_annotations": {}, "human_annotations": {}}]))
    return tree / "ann.json", tree / "images"


def _mpii(tree):
    person = {"joints": [[10, 10]] * 16, "joints_vis": [1] * 16}
    (tree / "ann.json").write_text(json.dumps([{"image": f"../outside/{SECRET}", **person},
                                               {"image": "good.jpg", **person}]))
    return tree / "ann.json", tree / "images"


def _posetrack(tree):
    data = {"categories": [{"id": 1, "name": "person",
                            "keypoints": list(JOINT_SETS["posetrack"].names)}],
            "images": [{"id": 1, "file_name": f"../outside/{SECRET}", "is_labeled": True},
                       {"id": 2, "file_name": "good.jpg", "is_labeled": True}],
            "annotations": []}
    (tree / "ann.json").write_text(json.dumps(data))
    return tree / "ann.json", tree / "images"


def _unlabelled_folder(tree):
    os.symlink(tree / "outside" / SECRET, tree / "images" / "link.jpg")     # a symlink out
    return tree / "images", tree / "images"


def _ntu(tree):
    name = "S001C001P001R001A001"
    joint = "0 0 0 0 0 {x} 500 0 0 0 0 2"
    body = "72057594037931101 0 1 1 1 1 0 0 0 2\n25\n" + "\n".join(
        joint.format(x=900 + 5 * j) for j in range(25))
    (tree / "skeletons").mkdir()
    (tree / "skeletons" / f"{name}.skeleton").write_text(f"1\n1\n{body}\n")
    (tree / "outside" / "video.avi").write_bytes(b"not read")
    os.symlink(tree / "outside" / "video.avi", tree / "images" / f"{name}_rgb.avi")
    return tree / "skeletons", tree / "images"


def _panoptic(tree):
    seq = tree / "seq"
    (seq / "hdPose3d_stage1_coco19").mkdir(parents=True)
    cam = {"name": "00_00", "type": "hd", "resolution": [40, 30], "panel": 0, "node": 0,
           "K": [[1, 0, 20], [0, 1, 15], [0, 0, 1]], "distCoef": [0] * 5,
           "R": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "t": [[0], [0], [0]]}
    (seq / "calibration_seq.json").write_text(json.dumps({"cameras": [cam]}))
    (seq / "hdPose3d_stage1_coco19" / "body3DScene_00000000.json").write_text('{"bodies": []}')
    _jpeg(tree / "outside" / "cam" / "00_00_00000000.jpg")
    os.symlink(tree / "outside" / "cam", tree / "images" / "00_00")        # a camera folder out
    return seq, tree / "images"


# source, layout, images written (the good one, where the layout has one)
CASES = [("coco", _coco_style, 1), ("crowdpose", _coco_style, 1), ("ochuman", _coco_style, 1),
         ("aic", _coco_style, 1), ("aic", _aic_official, 1), ("mpii", _mpii, 1),
         ("posetrack", _posetrack, 1), ("unlabelled", _coco_style, 1),
         ("unlabelled", _unlabelled_folder, 1), ("ntu", _ntu, 0), ("panoptic", _panoptic, 0)]


@pytest.mark.parametrize("source,layout,written", CASES,
                         ids=[f"{s}-{f.__name__.strip('_')}" for s, f, _ in CASES])
def test_every_converter_refuses_images_outside_images_before_opening(
        tree, opened, source, layout, written):
    annotations, images = layout(tree)
    summary, samples = run_convert(source, annotations, images, tree / "out")
    assert (summary.images_written, summary.images_skipped) == (written, 1)
    refused = [p for p in summary.problems if "leads outside" in p]
    assert len(refused) == 1 and refused[0].endswith("; skipped"), summary.problems
    assert str(images) in refused[0]
    outside = os.path.realpath(tree / "outside")
    assert not [p for p in opened if p.startswith(outside + os.sep)], "opened before refusing"
    assert all("outside" not in name and ".." not in name for name in samples)
    if written:
        # The same pixels as the image inside: an absolute name is re-rooted, not refused.
        (sample,) = samples.values()
        assert sample.image_bytes == (tree / "images" / "good.jpg").read_bytes()


def test_etc_passwd_is_refused_unread_and_counted_like_a_missing_image(tree, opened):
    data = {"images": [{"id": 1, "file_name": "../../../../../../../../etc/passwd"},
                       {"id": 2, "file_name": "missing.jpg"}], "annotations": []}
    (tree / "ann.json").write_text(json.dumps(data))
    summary, samples = run_convert("coco", tree / "ann.json", tree / "images", tree / "out")
    assert samples == {} and summary.images_skipped == 2
    assert "/etc/passwd" not in opened
    assert any(p.startswith("../../../../../../../../etc/passwd: file name leads outside")
               for p in summary.problems), summary.problems
    assert "(missing/corrupt image, or outside --images)" in summary.lines()[0]


# ---------------------------------------------------------------------------- evaluate

def test_evaluate_refuses_a_name_outside_the_images_folder_before_reading(tree, opened):
    from pose_tf.evaluation.coco import load_ground_truth, predict

    seen = []

    def estimator(image):
        seen.append(image.shape)
        return []

    data = {"images": [{"id": 2, "file_name": "/good.jpg", "height": 30, "width": 40},
                       {"id": 1, "file_name": f"../outside/{SECRET}", "height": 30, "width": 40}],
            "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    (tree / "gt.json").write_text(json.dumps(data))
    gt = load_ground_truth(tree / "gt.json")
    with pytest.raises(PoseTfError) as err:
        predict(estimator, gt, tree / "images", progress=False)
    assert str(err.value) == f"../outside/{SECRET}: file name leads outside {tree / 'images'}; refused"
    assert seen == [(30, 40, 3)]                    # /good.jpg re-rooted and read
    assert os.path.realpath(tree / "outside" / SECRET) not in opened


# ---------------------------------------------------------------------------- --out

def _one_image_coco(root):
    _jpeg(root / "images" / "a.jpg")
    (root / "ann.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                                               "annotations": []}))
    return ["convert", "coco", "--annotations", str(root / "ann.json"),
            "--images", str(root / "images"), "--no-progress", "--workers", "1"]


def test_out_that_is_a_file_is_one_line_and_left_alone(tmp_path, capsys):
    args = _one_image_coco(tmp_path)
    (tmp_path / "out.txt").write_text("keep me")
    assert cli_main(args + ["--out", str(tmp_path / "out.txt")]) == 2
    err = capsys.readouterr().err
    assert err == f"pose-tf convert: error: --out {tmp_path / 'out.txt'}: exists and is not a folder\n"
    assert (tmp_path / "out.txt").read_text() == "keep me"
    assert cli_main(args + ["--out", str(tmp_path / "out.txt" / "sub")]) == 2
    assert "cannot write there" in capsys.readouterr().err


def test_read_only_out_is_one_line_and_nothing_is_written(tmp_path):
    """Root writes through permission bits: when root, the run drops the capabilities that
    allow it (setpriv), so the folder is read-only to it as to anybody."""
    args = _one_image_coco(tmp_path)
    out = tmp_path / "out"
    out.mkdir(mode=0o555)
    out.chmod(0o555)
    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: permission bits cannot make a folder read-only")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    try:
        done = subprocess.run(prefix + [sys.executable, "-m", "pose_tf"] + args
                              + ["--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"pose-tf convert: error: --out {out}: cannot write there (Permission denied)"]
        assert os.listdir(out) == []
    finally:
        out.chmod(0o755)


# ---------------------------------------------------------------------------- damaged shards

def test_inspect_records_on_a_truncated_shard_is_one_line_naming_it(tmp_path, capsys):
    from pose_tf.data import records
    from test_convert_driver import _synthetic_coco

    ann, img, _ = _synthetic_coco(tmp_path / "src", n=4)
    run_convert("coco", ann, img, tmp_path / "records", num_shards=2)
    damaged = records.shard_path(tmp_path / "records", "coco-img", 1, 2)
    with open(damaged, "r+b") as f:
        f.truncate(os.path.getsize(damaged) - 100)
    code = cli_main(["inspect-records", "--records", str(tmp_path / "records" / "*.tfrecord"),
                     "--out", str(tmp_path / "sheets"), "--num", "4", "--no-augment",
                     "--input-size", "64", "64"])
    assert code == 2
    err = capsys.readouterr().err            # the progress bar, then the error: no traceback
    assert "Traceback" not in err and "DataLoss" not in err
    assert err.splitlines()[-1] == (f"pose-tf inspect-records: error: {damaged}: truncated or "
                                    f"corrupt TFRecord shard (damaged after 1 records)")
