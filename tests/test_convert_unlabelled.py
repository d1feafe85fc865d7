"""The `unlabelled` source: person boxes or bare images/videos -> records flagged "no labels".

Small inputs are made here (tiny JPEG/PNG files, a 10-frame mp4v video, a COCO detection
file with one bad box) and converted through the same in-process driver as the other
converter tests; the records are read back with `records.decode`.
"""
import json

import cv2
import numpy as np

from conftest import DATA, need
from convert_testutil import run_convert
from pose_tf.cli import main as cli_main


def _jpeg(path, h=30, w=40, level=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((h, w, 3), level, np.uint8))


def _detections(root):
    """2 images, 3 boxes: two good ones on a.jpg, one of zero width on b.jpg."""
    _jpeg(root / "img" / "a.jpg", 30, 40)
    _jpeg(root / "img" / "b.jpg", 20, 25)
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "height": 30, "width": 40},
                   {"id": 8, "file_name": "b.jpg", "height": 20, "width": 25}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [2, 3, 10, 20]},
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0, "bbox": [15.5, 1, 20, 25.5]},
            {"id": 3, "image_id": 8, "category_id": 1, "iscrowd": 0, "bbox": [1, 1, 0, 10]},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    (root / "boxes.json").write_text(json.dumps(data))
    return root / "boxes.json", root / "img", data


def _assert_unlabelled(sample, boxes):
    assert sample.source == "unlabelled" and sample.variant == "orig"
    assert not sample.labelled.any() and sample.labelled.shape == (17,)
    assert sample.keypoints.shape == (len(boxes), 17, 3) and not sample.keypoints.any()
    np.testing.assert_allclose(sample.bbox, np.asarray(boxes, np.float32).reshape(-1, 4))
    np.testing.assert_allclose(sample.area, [b[2] * b[3] for b in boxes])
    assert (sample.track_id == -1).all() and len(sample.track_id) == len(boxes)
    assert not sample.ignore_png


def test_detection_file_boxes_become_people_without_keypoints(tmp_path):
    ann, img, _ = _detections(tmp_path / "src")
    summary, samples = run_convert("unlabelled", ann, img, tmp_path / "out", prefix="u")
    assert sorted(samples) == ["a.jpg", "b.jpg"]
    assert summary.images_written == 2 and summary.records_written == 2
    assert summary.images_skipped == 0 and summary.people == 2
    _assert_unlabelled(samples["a.jpg"], [[2, 3, 10, 20], [15.5, 1, 20, 25.5]])
    _assert_unlabelled(samples["b.jpg"], [])       # its only box was bad: no people left
    assert samples["a.jpg"].image_id == 7 and (samples["a.jpg"].height, samples["a.jpg"].width) == (30, 40)
    assert samples["a.jpg"].image_bytes == (img / "a.jpg").read_bytes()
    # The bad box is reported (file, image, annotation) and skipped; its image is kept.
    assert summary.annotation_problems == 1
    (line,) = summary.problems
    assert "boxes.json" in line and "annotation 3" in line and "image 8" in line
    assert "non-positive size" in line and "skipped" in line


def test_detection_file_other_categories_crowds_and_bad_records(tmp_path):
    ann, img, data = _detections(tmp_path / "src")
    data["categories"].append({"id": 3, "name": "car"})
    data["images"].append({"id": 9, "height": 5, "width": 5})                   # no file_name
    data["annotations"] += [
        {"id": 4, "image_id": 7, "category_id": 3, "bbox": [0, 0, 5, 5]},          # a car
        {"id": 5, "image_id": 7, "category_id": 1, "bbox": [0, 0, float("nan"), 5]},
        {"id": 6, "image_id": 7, "category_id": 1, "bbox": [0, 0, 4, "x"]},
        {"id": 7, "image_id": 99, "category_id": 1, "bbox": [0, 0, 5, 5]},         # no such image
        {"id": 8, "image_id": 7, "category_id": 2, "bbox": [0, 0, 5, 5]},          # no such category
        {"id": 9, "image_id": 8, "category_id": 1, "iscrowd": 1, "bbox": [0, 0, 10, 8]},
    ]
    ann.write_text(json.dumps(data))
    summary, samples = run_convert("unlabelled", ann, img, tmp_path / "out", prefix="u")
    assert sorted(samples) == ["a.jpg", "b.jpg"]
    _assert_unlabelled(samples["a.jpg"], [[2, 3, 10, 20], [15.5, 1, 20, 25.5]])
    crowd = samples["b.jpg"].ignore_mask() > 0       # a crowd box is no person: ignored
    assert len(samples["b.jpg"].bbox) == 0 and crowd[:8, :10].all() and not crowd[9:, 11:].any()
    text = "\n".join(summary.problems)
    assert summary.annotation_problems == 6, text   # boxes 3, 5, 6, 7, 8 and image 9; not the car
    for needle in ("annotation 3 ", "annotation 5 ", "annotation 6 ", "annotation 7 ",
                   "annotation 8 ", "NaN", "non-number", "not in the images list",
                   "category_id 2", "file_name"):
        assert needle in text, needle
    assert "annotation 4 " not in text


def _video(path, frames=10, h=48, w=64):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    assert writer.isOpened()
    for k in range(frames):                   # frame k is a flat grey of level 20 * k + 10
        writer.write(np.full((h, w, 3), 20 * k + 10, np.uint8))
    writer.release()


def test_folder_of_images_and_a_video(tmp_path):
    src = tmp_path / "src"
    _jpeg(src / "b.jpg", 30, 40)
    (src / "sub").mkdir()
    assert cv2.imwrite(str(src / "sub" / "a.png"), np.full((12, 16, 3), 50, np.uint8))
    _video(src / "clip.mp4")
    (src / "notes.txt").write_text("not an image")
    summary, samples = run_convert("unlabelled", src, src, tmp_path / "out", prefix="f",
                                   frame_step=3)
    frames = [f"clip.mp4/frame_{k:06d}.jpg" for k in (0, 3, 6, 9)]
    assert sorted(samples) == sorted(["b.jpg", "sub/a.png"] + frames)
    assert summary.images_written == 6 and summary.records_written == 6
    assert summary.images_skipped == 0 and summary.annotation_problems == 0
    assert summary.people == 0
    for s in samples.values():
        _assert_unlabelled(s, [])
    assert samples["sub/a.png"].image_format == "png"
    assert samples["sub/a.png"].image_bytes == (src / "sub" / "a.png").read_bytes()
    assert len({s.image_id for s in samples.values()}) == 6
    for k, name in zip((0, 3, 6, 9), frames):
        s = samples[name]
        assert s.image_format == "jpeg" and (s.height, s.width) == (48, 64)
        pixels = cv2.imdecode(np.frombuffer(s.image_bytes, np.uint8), cv2.IMREAD_COLOR)
        assert abs(float(pixels.mean()) - (20 * k + 10)) < 5, name   # the right frame


def test_folder_needs_images_to_be_that_folder_and_reports_bad_videos(tmp_path, capsys):
    src = tmp_path / "src"
    _jpeg(src / "a.jpg")
    (src / "broken.avi").write_bytes(b"not a video")
    summary, samples = run_convert("unlabelled", src, src, tmp_path / "out", prefix="f")
    assert sorted(samples) == ["a.jpg"]
    assert summary.annotation_problems == 1 and "broken.avi" in summary.problems[0]
    other = tmp_path / "elsewhere"
    other.mkdir()
    args = ["convert", "unlabelled", "--annotations", str(src), "--images", str(other),
            "--out", str(tmp_path / "out2"), "--no-progress", "--workers", "1"]
    assert cli_main(args) == 2
    assert "--images must be that folder" in capsys.readouterr().err
    args[5] = str(src)
    assert cli_main(args) == 0
    assert "written 1" in capsys.readouterr().out


def test_stanford40_detection_file(tmp_path):
    """The real file: one entry per image it lists (read only: no 3,200 images converted)."""
    from pose_tf.data.sources import read_source

    root = need(DATA / "unlabelled" / "stanford40")
    data = json.loads((root / "person_boxes.json").read_text())
    result = read_source("unlabelled", root / "person_boxes.json", root / "images")
    assert len(result.entries) == len(data["images"]) and not result.problems
    assert sum(len(e.bbox) for e in result.entries) == len(data["annotations"])
    assert all(not e.labelled.any() and not e.keypoints.any() for e in result.entries)
    first = min(data["images"], key=lambda im: im["file_name"])
    (box,) = [a["bbox"] for a in data["annotations"] if a["image_id"] == first["id"]]
    entry = result.entries[0]
    assert entry.filename == first["file_name"] and entry.image_id == first["id"]
    np.testing.assert_allclose(entry.bbox, [box])
    assert (root / "images" / entry.filename).exists()


def test_stanford40_converts(tmp_path):
    """Real images through the whole driver: shard 0 of 1600 (its two images), to stay fast."""
    root = need(DATA / "unlabelled" / "stanford40")
    summary, samples = run_convert("unlabelled", root / "person_boxes.json", root / "images",
                                   tmp_path, prefix="s40", num_shards=1600, shard_index=0)
    assert summary.images_written == 2 and summary.images_skipped == 0 and len(samples) == 2
    for s in samples.values():
        assert not s.labelled.any() and s.num_people == 1 and not s.keypoints.any()


def test_source_is_registered():
    from pose_tf.commands import convert
    from pose_tf.data.sources import SOURCE_NAMES, get_source

    assert "unlabelled" in SOURCE_NAMES and "unlabelled" in convert.HELP
    assert get_source("unlabelled").NAME == "unlabelled"
