"""The one TFRecord schema of pose-tf: one `tf.train.Example` per image.

Every dataset converter (`pose_tf/data/sources/`) produces `Sample`s; `encode` turns one into
a serialized Example, `decode` reads it back in Python (tests, tools) and `parse_example`
reads it with TF ops inside a tf.data graph. Feature keys:

    image/encoded   bytes   the source JPEG/PNG bytes (re-encoded for offline variants)
    image/format    bytes   "jpeg" | "png"
    image/height, image/width, image/id   int64
    image/filename, image/source, image/variant   bytes
    person/keypoints float  N*17*3, (x, y, v) COCO-17 order; v 0 = not labelled/absent,
                            1 = labelled but occluded, 2 = visible; continuous pixel
                            coordinates of THIS image (pixel i covers [i, i+1): the
                            sources' indices + 0.5, pose_tf.core.geometry)
    person/bbox     float   N*4 (x, y, w, h)
    person/area     float   N (segment area, else box area)
    person/track_id int64   N (-1 when none)
    source/labelled int64   17 (1 where the source annotates that COCO keypoint)
    mask/ignore     bytes   PNG, one channel uint8, image size, 255 = ignore in the loss;
                            empty when nothing is ignored

Shards are named `<out>/<prefix>-<index:05d>-of-<num:05d>.tfrecord` (`shard_path`).
TensorFlow is imported lazily so that `pose-tf --help` and the converters' readers stay light.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import PoseTfError
from ..core.keypoints import NUM_KEYPOINTS
from ..io.files import atomic_output

VARIANTS = ("orig", "flip", "rot90", "rot180", "rot270")
IMAGE_FORMATS = ("jpeg", "png")
SHARD_SUFFIX = ".tfrecord"


@dataclass
class Sample:
    """One image with its people, in the package's COCO-17 convention."""

    image_bytes: bytes
    image_format: str
    height: int
    width: int
    image_id: int
    filename: str
    source: str
    variant: str = "orig"
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_KEYPOINTS, 3), np.float32))
    bbox: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    area: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    track_id: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    labelled: np.ndarray = field(default_factory=lambda: np.ones(NUM_KEYPOINTS, bool))
    ignore_png: bytes = b""

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 3)
        n = len(self.keypoints)
        self.bbox = np.asarray(self.bbox, np.float32).reshape(-1, 4)
        self.area = np.asarray(self.area, np.float32).reshape(-1)
        self.track_id = np.asarray(self.track_id, np.int64).reshape(-1)
        self.labelled = np.asarray(self.labelled, bool).reshape(NUM_KEYPOINTS)
        if not (len(self.bbox) == len(self.area) == len(self.track_id) == n):
            raise PoseTfError(
                f"{self.filename}: person arrays disagree: {n} keypoint sets, "
                f"{len(self.bbox)} boxes, {len(self.area)} areas, {len(self.track_id)} track ids")
        if self.image_format not in IMAGE_FORMATS:
            raise PoseTfError(f"{self.filename}: image format {self.image_format!r} "
                              f"is not one of {', '.join(IMAGE_FORMATS)}")
        if self.variant not in VARIANTS:
            raise PoseTfError(f"{self.filename}: variant {self.variant!r} is not one of "
                              f"{', '.join(VARIANTS)}")

    @property
    def num_people(self) -> int:
        return len(self.keypoints)

    def ignore_mask(self) -> np.ndarray:
        """The ignore mask as uint8 [height, width] (all zero when none is stored)."""
        if not self.ignore_png:
            return np.zeros((self.height, self.width), np.uint8)
        return decode_mask_png(self.ignore_png)


# ---------------------------------------------------------------------------- masks

def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of a uint8 [H, W] mask, or b"" when nothing is ignored."""
    import cv2

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"ignore mask must be 2-D, got shape {mask.shape}")
    if not mask.any():
        return b""
    ok, buf = cv2.imencode(".png", np.where(mask > 0, 255, 0).astype(np.uint8))
    if not ok:
        raise PoseTfError("could not PNG-encode an ignore mask")
    return buf.tobytes()


def decode_mask_png(data: bytes) -> np.ndarray:
    import cv2

    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None or mask.ndim != 2:
        raise PoseTfError("ignore mask is not a single-channel PNG")
    return mask


# ---------------------------------------------------------------------------- encode / decode

def _example_pb2():
    from tensorflow.core.example import example_pb2

    return example_pb2


def encode(sample: Sample) -> bytes:
    """Serialize one `Sample` to a tf.train.Example (bytes)."""
    ex = _example_pb2().Example()
    f = ex.features.feature

    def put_bytes(key, value):
        f[key].bytes_list.value.append(value if isinstance(value, bytes) else value.encode("utf-8"))

    def put_ints(key, values):
        f[key].int64_list.value.extend(int(v) for v in np.asarray(values).reshape(-1))

    def put_floats(key, values):
        f[key].float_list.value.extend(np.asarray(values, np.float32).reshape(-1).tolist())

    put_bytes("image/encoded", sample.image_bytes)
    put_bytes("image/format", sample.image_format)
    put_ints("image/height", [sample.height])
    put_ints("image/width", [sample.width])
    put_ints("image/id", [sample.image_id])
    put_bytes("image/filename", sample.filename)
    put_bytes("image/source", sample.source)
    put_bytes("image/variant", sample.variant)
    # Empty lists still get their key so that every record has every feature.
    for key in ("person/keypoints", "person/bbox", "person/area"):
        f[key].float_list.SetInParent()
    for key in ("person/track_id", "source/labelled"):
        f[key].int64_list.SetInParent()
    put_floats("person/keypoints", sample.keypoints)
    put_floats("person/bbox", sample.bbox)
    put_floats("person/area", sample.area)
    put_ints("person/track_id", sample.track_id)
    put_ints("source/labelled", sample.labelled.astype(np.int64))
    put_bytes("mask/ignore", sample.ignore_png)
    return ex.SerializeToString()


def decode(serialized: bytes) -> Sample:
    """Parse a serialized Example back into a `Sample` (pure Python, no TF graph)."""
    ex = _example_pb2().Example()
    ex.ParseFromString(serialized)
    f = ex.features.feature

    def one_bytes(key):
        return f[key].bytes_list.value[0] if f[key].bytes_list.value else b""

    def one_int(key):
        return int(f[key].int64_list.value[0])

    return Sample(
        image_bytes=one_bytes("image/encoded"),
        image_format=one_bytes("image/format").decode(),
        height=one_int("image/height"),
        width=one_int("image/width"),
        image_id=one_int("image/id"),
        filename=one_bytes("image/filename").decode(),
        source=one_bytes("image/source").decode(),
        variant=one_bytes("image/variant").decode(),
        keypoints=np.array(f["person/keypoints"].float_list.value, np.float32),
        bbox=np.array(f["person/bbox"].float_list.value, np.float32),
        area=np.array(f["person/area"].float_list.value, np.float32),
        track_id=np.array(f["person/track_id"].int64_list.value, np.int64),
        labelled=np.array(f["source/labelled"].int64_list.value, np.int64) > 0,
        ignore_png=one_bytes("mask/ignore"),
    )


def feature_spec():
    """The tf.io parsing spec of the schema."""
    import tensorflow as tf

    return {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string, default_value="jpeg"),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/id": tf.io.FixedLenFeature([], tf.int64, default_value=0),
        "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "image/source": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "image/variant": tf.io.FixedLenFeature([], tf.string, default_value="orig"),
        "person/keypoints": tf.io.VarLenFeature(tf.float32),
        "person/bbox": tf.io.VarLenFeature(tf.float32),
        "person/area": tf.io.VarLenFeature(tf.float32),
        "person/track_id": tf.io.VarLenFeature(tf.int64),
        "source/labelled": tf.io.FixedLenFeature([NUM_KEYPOINTS], tf.int64,
                                                 default_value=[1] * NUM_KEYPOINTS),
        "mask/ignore": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }


def parse_example(serialized):
    """Parse one serialized Example tensor with TF ops (for tf.data.Dataset.map).

    Returns a dict: image_bytes, filename, source, variant, ignore_png (string scalars;
    ignore_png may be empty), height, width (int32), image_id (int64), keypoints
    [N, 17, 3] f32, bbox [N, 4] f32, area [N] f32, track_id [N] int64, labelled [17] f32.
    """
    import tensorflow as tf

    p = tf.io.parse_single_example(serialized, feature_spec())
    dense = lambda key: tf.sparse.to_dense(p[key])  # noqa: E731
    return {
        "image_bytes": p["image/encoded"],
        "image_format": p["image/format"],
        "height": tf.cast(p["image/height"], tf.int32),
        "width": tf.cast(p["image/width"], tf.int32),
        "image_id": p["image/id"],
        "filename": p["image/filename"],
        "source": p["image/source"],
        "variant": p["image/variant"],
        "keypoints": tf.reshape(dense("person/keypoints"), [-1, NUM_KEYPOINTS, 3]),
        "bbox": tf.reshape(dense("person/bbox"), [-1, 4]),
        "area": dense("person/area"),
        "track_id": dense("person/track_id"),
        "labelled": tf.cast(p["source/labelled"], tf.float32),
        "ignore_png": p["mask/ignore"],
    }


# ---------------------------------------------------------------------------- shard files

def shard_path(out_dir, prefix: str, index: int, num_shards: int) -> str:
    """`<out>/<prefix>-<index:05d>-of-<num:05d>.tfrecord`."""
    return os.path.join(os.fspath(out_dir), f"{prefix}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}")


def shard_glob(out_dir, prefix: str) -> str:
    """Glob of the shards of exactly `prefix` ("coco-x" does not match "coco-x-rot90-...")."""
    return os.path.join(os.fspath(out_dir), f"{prefix}-[0-9][0-9][0-9][0-9][0-9]-of-*{SHARD_SUFFIX}")


def temp_shard_path(path) -> str:
    """The name a shard is written under until complete: `<path>.tmp-<pid>` (shard_glob
    never matches it; the converter removes stale ones of a killed run by this pattern)."""
    return f"{os.fspath(path)}.tmp-{os.getpid()}"


def write_records(path, serialized_examples) -> int:
    """Write serialized Examples to `path` atomically (pose_tf.io.files.atomic_output);
    returns the count. A crash leaves at most `temp_shard_path(path)`, never a truncated
    shard under the final name.
    """
    import tensorflow as tf

    count = 0
    with atomic_output(path, temp=temp_shard_path(path)) as tmp, \
            tf.io.TFRecordWriter(os.fspath(tmp)) as writer:
        for data in serialized_examples:
            writer.write(data)
            count += 1
    return count


def read_records(path):
    """Yield the serialized Examples of one TFRecord file (eager, for tools and tests); a
    truncated or corrupt file (TensorFlow checks lengths and CRCs) is a PoseTfError naming
    it and how many records were read before the damage."""
    import tensorflow as tf

    count = 0
    try:
        for record in tf.data.TFRecordDataset(os.fspath(path)):
            yield record.numpy()
            count += 1
    except tf.errors.DataLossError:
        raise PoseTfError(f"{path}: truncated or corrupt TFRecord shard (damaged after "
                          f"{count} records)") from None


def first_damaged(paths):
    """The PoseTfError of the first of `paths` that does not read to its end, or None.
    Reads every record: for naming the culprit once a reader has hit damage."""
    for path in paths:
        try:
            for _ in read_records(path):
                pass
        except PoseTfError as exc:
            return exc
    return None


def read_samples(path):
    """Yield `Sample`s decoded from one TFRecord file."""
    for data in read_records(path):
        yield decode(data)


# ---------------------------------------------------------------------------- shard manifests
# A finished shard has a manifest beside it: the fingerprint of what it was converted from
# (the converter computes it), its record count, size and SHA-256. The converter writes it
# from the complete temp file just before that is renamed to the shard, so a shard under its
# final name has a manifest; a rerun keeps a shard only when `shard_problem` finds nothing.

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(shard) -> str:
    """`<out>/.<shard name>.manifest.json`: hidden, so no shard glob (`*`) matches it."""
    folder, name = os.path.split(os.fspath(shard))
    return os.path.join(folder, f".{name}{MANIFEST_SUFFIX}")


def scan_shard(path) -> tuple:
    """(record count, SHA-256 hex of the bytes) of a TFRecord file, walking its framing
    (8-byte length, 4-byte length CRC, data, 4-byte data CRC); a PoseTfError naming the file
    when it ends inside a record. Pure Python: no TensorFlow start-up for a rerun's check."""
    import hashlib
    import struct

    digest, count, pos = hashlib.sha256(), 0, 0
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        while pos < size:
            head = f.read(12)
            length = struct.unpack("<Q", head[:8])[0] if len(head) == 12 else size
            if pos + 16 + length > size:        # checked first: a garbage length is not read
                raise PoseTfError(f"{path}: truncated TFRecord shard (record {count} at byte "
                                  f"{pos} runs past the end, {size} bytes)")
            digest.update(head)
            digest.update(f.read(length + 4))
            count, pos = count + 1, pos + 16 + length
    return count, digest.hexdigest()


def write_manifest(shard, written, fingerprint: str, inputs: dict) -> None:
    """Write the manifest of `shard` describing `written` (its complete temp file or itself)."""
    from ..io.files import write_json_atomic

    count, digest = scan_shard(written)
    write_json_atomic(manifest_path(shard), {
        "shard": os.path.basename(os.fspath(shard)), "fingerprint": fingerprint,
        "records": count, "bytes": os.path.getsize(written), "sha256": digest,
        "inputs": inputs}, indent=1)


@contextmanager
def manifest_when_complete(shard, written, fingerprint: str, inputs: dict):
    """Write `shard`'s manifest from `written` when the block ends without error (after
    the writer closed, before the temp file is renamed): no manifest for a failed shard."""
    yield
    write_manifest(shard, written, fingerprint, inputs)


def shard_problem(shard, fingerprint: str) -> str:
    """'' when `shard` is a finished shard of `fingerprint` (its manifest names that
    fingerprint and the file holds exactly the records and bytes it lists), else why not."""
    from ..io.files import load_json

    if not os.path.exists(shard):
        return "not written"
    try:
        manifest = load_json(manifest_path(shard), "shard manifest")
    except PoseTfError:
        return "no readable manifest"
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint:
        return "converted from other annotations or options"
    size = os.path.getsize(shard)
    if size != manifest.get("bytes"):
        return f"{size} bytes where its manifest says {manifest.get('bytes')} (truncated?)"
    try:
        found = scan_shard(shard)
    except PoseTfError as exc:
        return str(exc)
    if list(found) != [manifest.get("records"), manifest.get("sha256")]:
        return "content differs from its manifest"
    return ""
