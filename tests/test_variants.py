"""Offline variants: a marker drawn at a joint must be where the transformed joint says.

The image is non-square (so a rotation that mixes up width and height shows), the two
wrists carry differently coloured markers (so a flip without the left/right swap shows),
and an ignore-mask rectangle plus a person box must move with the pixels too.
"""
import cv2
import numpy as np
import pytest

from pose_tf.core.keypoints import COCO_FLIP, KEYPOINT_INDEX
from pose_tf.data import records
from pose_tf.data.variants import apply_variant, transform_boxes

W, H = 96, 64
LW, RW = KEYPOINT_INDEX["left_wrist"], KEYPOINT_INDEX["right_wrist"]
RED, GREEN = (0, 0, 255), (0, 255, 0)         # BGR
RECT = (60, 40, 71, 49)                       # x0, y0, x1, y1 inclusive: mask + box


def _scene(fmt):
    image = np.zeros((H, W, 3), np.uint8)
    kp = np.zeros((1, 17, 3), np.float32)
    for joint, (x, y), colour in ((LW, (12, 9), RED), (RW, (80, 22), GREEN)):
        image[y - 2:y + 3, x - 2:x + 3] = colour        # 5x5 marker centred on pixel (x, y)
        kp[0, joint] = (x + 0.5, y + 0.5, 2)             # records are continuous: its centre
    x0, y0, x1, y1 = RECT
    image[y0:y1 + 1, x0:x1 + 1] = (255, 0, 0)
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1 + 1, x0:x1 + 1] = 255
    ok, buf = cv2.imencode(".png" if fmt == "png" else ".jpg", image,
                           [] if fmt == "png" else [cv2.IMWRITE_JPEG_QUALITY, 100])
    labelled = np.zeros(17, bool)
    labelled[[LW, KEYPOINT_INDEX["left_elbow"]]] = True    # asymmetric on purpose
    return records.Sample(
        image_bytes=buf.tobytes(), image_format=fmt, height=H, width=W, image_id=1,
        filename="scene", source="test", keypoints=kp,
        bbox=[[x0, y0, x1 - x0 + 1, y1 - y0 + 1]], area=[120.0], track_id=[3],
        labelled=labelled, ignore_png=records.encode_mask_png(mask))


def _centroid(image, colour):
    """Centre of the pixels closest to `colour` (robust to JPEG ringing), continuous."""
    dist = np.abs(image.astype(np.int32) - np.array(colour)).sum(-1)
    ys, xs = np.nonzero(dist < 200)
    assert len(xs) >= 5, f"marker {colour} not found"
    return np.array([xs.mean(), ys.mean()]) + 0.5


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
@pytest.mark.parametrize("variant", ["flip", "rot90", "rot180", "rot270"])
def test_marker_moves_with_its_joint(variant, fmt):
    sample = _scene(fmt)
    out = records.decode(records.encode(apply_variant(sample, variant)))
    image = cv2.imdecode(np.frombuffer(out.image_bytes, np.uint8), cv2.IMREAD_COLOR)
    assert out.variant == variant and out.image_format == fmt
    assert (out.height, out.width) == image.shape[:2]
    assert image.shape[:2] == ((W, H) if variant in ("rot90", "rot270") else (H, W))
    # After a flip the red marker (drawn at the LEFT wrist) is the person's right wrist.
    red_joint = COCO_FLIP[LW] if variant == "flip" else LW
    green_joint = COCO_FLIP[RW] if variant == "flip" else RW
    tol = 0.01 if fmt == "png" else 0.5
    np.testing.assert_allclose(out.keypoints[0, red_joint, :2], _centroid(image, RED), atol=tol)
    np.testing.assert_allclose(out.keypoints[0, green_joint, :2], _centroid(image, GREEN), atol=tol)
    assert out.keypoints[0, red_joint, 2] == 2 and out.keypoints[0, green_joint, 2] == 2
    # Unlabelled joints stay (0, 0, 0), not moved to (W, ...).
    others = np.ones(17, bool)
    others[[red_joint, green_joint]] = False
    assert not out.keypoints[0, others].any()
    # The ignore mask moved exactly like the blue rectangle of the image.
    blue = np.abs(image.astype(int) - (255, 0, 0)).sum(-1) < 120
    mask = out.ignore_mask() > 0
    assert mask.shape == image.shape[:2]
    assert (mask == blue).mean() > 0.995
    # The box (pixel extents) covers exactly the moved rectangle's pixels.
    ys, xs = np.nonzero(mask)
    np.testing.assert_allclose(out.bbox[0], [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1])
    # Labelled flags follow the joints (mirrored for flips), per-person data is kept.
    expected = sample.labelled[COCO_FLIP] if variant == "flip" else sample.labelled
    np.testing.assert_array_equal(out.labelled, expected)
    assert out.track_id.tolist() == [3] and out.area.tolist() == [120.0]


def test_rotations_compose():
    """rot90 twice is rot180, four times is the identity (keypoints and boxes)."""
    sample = _scene("png")
    from pose_tf.data.variants import transform_keypoints

    kp = sample.keypoints
    k90 = transform_keypoints(kp, "rot90", W, H)
    k180 = transform_keypoints(k90, "rot90", H, W)
    np.testing.assert_allclose(k180, transform_keypoints(kp, "rot180", W, H))
    k270 = transform_keypoints(k180, "rot90", W, H)
    np.testing.assert_allclose(k270, transform_keypoints(kp, "rot270", W, H))
    np.testing.assert_allclose(transform_keypoints(k270, "rot90", H, W), kp)
    box = sample.bbox
    b = transform_boxes(transform_boxes(box, "rot90", W, H), "rot90", H, W)
    np.testing.assert_allclose(b, transform_boxes(box, "rot180", W, H))


def test_variant_of_a_variant_is_refused():
    from pose_tf.core.errors import PoseTfError

    rotated = apply_variant(_scene("png"), "rot90")
    with pytest.raises(PoseTfError, match="orig"):
        apply_variant(rotated, "flip")
