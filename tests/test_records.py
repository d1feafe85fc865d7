"""The record schema: Sample -> Example bytes -> Sample / TF parse, and shard files."""
import hashlib

import cv2
import numpy as np
import pytest

from pose_tf.core.errors import PoseTfError
from pose_tf.core.keypoints import JOINT_SETS
from pose_tf.data import records


def _sample(num_people=2, with_mask=True):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 60, 3), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    mask = np.zeros((40, 60), np.uint8)
    if with_mask:
        mask[5:15, 10:30] = 255
    kp = rng.uniform(0, 40, (num_people, 17, 3)).astype(np.float32)
    kp[..., 2] = rng.integers(0, 3, (num_people, 17))
    return records.Sample(
        image_bytes=jpeg.tobytes(), image_format="jpeg", height=40, width=60, image_id=1234,
        filename="a/b.jpg", source="mpii", variant="rot90", keypoints=kp,
        bbox=rng.uniform(0, 30, (num_people, 4)), area=rng.uniform(1, 900, num_people),
        track_id=np.arange(num_people) + 7, labelled=JOINT_SETS["mpii16"].labelled(),
        ignore_png=records.encode_mask_png(mask))


def _assert_same(a, b):
    assert a.image_bytes == b.image_bytes
    for key in ("image_format", "height", "width", "image_id", "filename", "source", "variant"):
        assert getattr(a, key) == getattr(b, key), key
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_allclose(a.bbox, b.bbox, rtol=1e-6)
    np.testing.assert_allclose(a.area, b.area, rtol=1e-6)
    np.testing.assert_array_equal(a.track_id, b.track_id)
    np.testing.assert_array_equal(a.labelled, b.labelled)
    np.testing.assert_array_equal(a.ignore_mask(), b.ignore_mask())


@pytest.mark.parametrize("num_people,with_mask", [(2, True), (0, False)])
def test_python_round_trip(num_people, with_mask):
    sample = _sample(num_people, with_mask)
    back = records.decode(records.encode(sample))
    _assert_same(sample, back)
    assert back.num_people == num_people
    assert (back.ignore_png == b"") == (not with_mask)
    # MPII labels no eyes/ears/nose.
    assert not back.labelled[:5].any() and back.labelled[5:].all()


def test_mask_png_is_single_channel_255():
    mask = np.zeros((7, 9), np.uint8)
    mask[2:4, 3:8] = 1
    png = records.encode_mask_png(mask)
    back = records.decode_mask_png(png)
    assert back.shape == (7, 9) and back.dtype == np.uint8
    assert set(np.unique(back)) == {0, 255}
    np.testing.assert_array_equal(back > 0, mask > 0)
    assert records.encode_mask_png(np.zeros((3, 3), np.uint8)) == b""


def test_tf_parse_and_shard_file(tmp_path):
    import tensorflow as tf

    samples = [_sample(2), _sample(0, with_mask=False)]
    path = records.shard_path(tmp_path, "mpii-train", 3, 8)
    assert path.endswith("mpii-train-00003-of-00008.tfrecord")
    assert records.write_records(path, (records.encode(s) for s in samples)) == 2
    assert not list(tmp_path.glob("*.tmp-*"))
    parsed = list(tf.data.TFRecordDataset(path).map(records.parse_example))
    for sample, p in zip(samples, parsed):
        assert p["image_bytes"].numpy() == sample.image_bytes
        assert p["height"].dtype == tf.int32 and int(p["height"]) == 40 and int(p["width"]) == 60
        assert p["image_id"].dtype == tf.int64 and int(p["image_id"]) == 1234
        assert p["variant"].numpy() == b"rot90" and p["source"].numpy() == b"mpii"
        assert p["keypoints"].shape == (sample.num_people, 17, 3)
        np.testing.assert_array_equal(p["keypoints"].numpy(), sample.keypoints)
        np.testing.assert_allclose(p["bbox"].numpy(), sample.bbox.reshape(-1, 4), rtol=1e-6)
        assert p["bbox"].shape == (sample.num_people, 4)
        assert p["track_id"].dtype == tf.int64
        np.testing.assert_array_equal(p["track_id"].numpy(), sample.track_id)
        assert p["labelled"].dtype == tf.float32
        np.testing.assert_array_equal(p["labelled"].numpy(), sample.labelled.astype(np.float32))
        assert p["ignore_png"].numpy() == sample.ignore_png
    for sample, back in zip(samples, records.read_samples(path)):
        _assert_same(sample, back)


def test_inconsistent_person_arrays_are_rejected():
    with pytest.raises(PoseTfError, match="disagree"):
        records.Sample(image_bytes=b"", image_format="jpeg", height=1, width=1, image_id=0,
                       filename="x.jpg", source="coco", keypoints=np.zeros((2, 17, 3)),
                       bbox=np.zeros((1, 4)), area=np.zeros(2), track_id=np.zeros(2))


def test_a_truncated_shard_names_itself_when_read_and_scanned(tmp_path):
    path = str(tmp_path / "x-00000-of-00001.tfrecord")
    serialized = [records.encode(_sample(num_people=n)) for n in (1, 2, 3)]
    assert records.write_records(path, serialized) == 3
    count, digest = records.scan_shard(path)
    data = open(path, "rb").read()
    # TFRecord framing: 8-byte length, 4-byte CRC, data, 4-byte CRC per record.
    assert (count, len(data)) == (3, sum(len(s) + 16 for s in serialized))
    assert digest == hashlib.sha256(data).hexdigest()
    with open(path, "r+b") as f:
        f.truncate(len(data) - 10)
    with pytest.raises(PoseTfError) as err:
        list(records.read_records(path))
    assert str(err.value) == f"{path}: truncated or corrupt TFRecord shard (damaged after 2 records)"
    with pytest.raises(PoseTfError) as err:
        records.scan_shard(path)
    end = len(serialized[0]) + len(serialized[1]) + 32
    assert str(err.value) == (f"{path}: truncated TFRecord shard (record 2 at byte {end} runs "
                              f"past the end, {len(data) - 10} bytes)")
    good = str(tmp_path / "good.tfrecord")
    records.write_records(good, serialized)
    assert records.first_damaged([good]) is None
    assert str(records.first_damaged([good, path])) == \
        f"{path}: truncated or corrupt TFRecord shard (damaged after 2 records)"
