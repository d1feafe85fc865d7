"""Helpers shared by the converter tests: run a conversion in-process and read it back."""
import glob
import os

import numpy as np

from pose_tf.data import records
from pose_tf.data.convert import ConvertOptions, convert


def run_convert(source, annotations, images, out, **kw):
    """Convert in-process (1 worker unless given) -> (summary, {filename: Sample} of 'orig')."""
    opts = ConvertOptions(source=source, annotations=str(annotations), images=str(images),
                          out=str(out), progress=False, **{"workers": 1, "num_shards": 1, **kw})
    problems = []
    summary = convert(opts, report=problems.append)
    return summary, read_dir(out, opts.prefix or f"{source}-{os.path.basename(os.path.normpath(str(images)))}")


def read_dir(out, prefix):
    samples = {}
    for path in sorted(glob.glob(records.shard_glob(out, prefix))):
        for s in records.read_samples(path):
            assert s.filename not in samples, f"{s.filename} written twice"
            samples[s.filename] = s
    return samples


def name_mapping(category_keypoints):
    """Source joint index -> COCO index, matched by the names the file itself lists."""
    from pose_tf.core.keypoints import KEYPOINT_INDEX

    out = {}
    for j, name in enumerate(category_keypoints):
        key = name.lower().replace(" ", "_")
        if key in KEYPOINT_INDEX:
            out[j] = KEYPOINT_INDEX[key]
    return out


def as_record(source_keypoints):
    """The source's pixel-index keypoints as the converter stores them (continuous:
    +0.5 on labelled joints, pose_tf.core.geometry)."""
    from pose_tf.core.geometry import index_to_continuous

    return index_to_continuous(np.asarray(source_keypoints, np.float32))


def assert_people_match(sample, expected):
    """expected: list of [17, 3] arrays in the source's pixel indices (order free)."""
    got = sorted(sample.keypoints.tolist())
    want = sorted(as_record(e).tolist() for e in expected)
    np.testing.assert_allclose(np.array(got).reshape(-1, 17, 3),
                               np.array(want).reshape(-1, 17, 3), atol=1e-3)
