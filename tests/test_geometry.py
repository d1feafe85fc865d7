"""pose_tf.core.geometry: one pixel convention, the letterbox and its inverse, cells <-> pixels,
and the whole round trip dataset labels -> records -> augmentation -> targets -> the
Estimator's mapping (sizes off the stride, flip, two scales) -> peaks -> dataset labels.
Also: EXIF-rotated JPEGs decode upright alike in the converter and in training."""
import json
import struct

import cv2
import numpy as np
import pytest

from pose_tf.core import geometry
from pose_tf.core.errors import PoseTfError
from pose_tf.core.keypoints import COCO17
from pose_tf.inference.runtimes import Network

# ---------------------------------------------------------------------------- convention


def test_index_and_continuous_convert_present_points_only():
    kp = np.array([[[3.0, 4.0, 2.0], [0.0, 0.0, 0.0], [10.0, 0.0, 1.0]]], np.float32)
    cont = geometry.index_to_continuous(kp)
    np.testing.assert_array_equal(cont[0, :, :2], [[3.5, 4.5], [0, 0], [10.5, 0.5]])
    np.testing.assert_array_equal(cont[..., 2], kp[..., 2])
    np.testing.assert_array_equal(geometry.continuous_to_index(cont), kp)
    np.testing.assert_array_equal(geometry.index_to_continuous(np.zeros((2, 2)))[:, :2], 0.5)


def test_mirror_is_one_rule_for_points_and_edges():
    # pixel 0 of a 10 px row (centre 0.5) mirrors onto pixel 9 (centre 9.5); its edges 0, 1 -> 10, 9
    assert geometry.mirror_x(0.5, 10) == 9.5
    assert (geometry.mirror_x(0.0, 10), geometry.mirror_x(1.0, 10)) == (10.0, 9.0)


def test_grid_and_cell_to_image():
    assert geometry.input_to_grid(8 * 5 + 4.0, 8) == 5.0       # the centre of cell 5
    assert geometry.grid_to_input(-0.5, 8) == 0.0               # the cell grid starts at pixel 0
    sx, sy, ox, oy = geometry.cell_to_image(8, (0.5, 0.25))
    assert (sx, sy) == (16.0, 32.0) and (ox, oy) == (8.0, 16.0)   # (c + 0.5) * 8 / scale
    assert geometry.cell_to_image(8, 2.0) == (4.0, 4.0, 2.0, 2.0)


def test_letterbox_canvas_is_a_multiple_and_its_inverse_exact():
    image = np.full((333, 517, 3), 200, np.uint8)
    canvas, box = geometry.letterbox(image, (300, 400), pad_value=-1.0, canvas="box")
    assert canvas.shape == (304, 400, 3)                         # 300 -> 304: a multiple of 16
    assert box.content_hw == (258, 400) and box.image_hw == (333, 517)
    assert (canvas[257, 399, 0], canvas[258, 0, 0]) == (200, -1)
    kx, ky = box.scale_xy
    assert (kx, ky) == (400 / 517, 258 / 333)                    # the resize's own factors
    xy = np.array([[0.0, 0.0], [517.0, 333.0], [12.25, 100.5]])
    np.testing.assert_allclose(box.input_to_image(box.image_to_input(xy)), xy)
    np.testing.assert_allclose(box.image_to_input(xy[1]), (400, 258))   # edge onto edge
    _, fit = geometry.letterbox(image, (300, 400), canvas="fit")
    assert fit.canvas_hw == (272, 400)
    _, fixed = geometry.letterbox(image, (300, 400), fixed_canvas=True)
    assert fixed.canvas_hw == (300, 400)
    assert geometry.plan_letterbox((333, 517), (249.75, 387.75), "box").canvas_hw == (256, 400)
    with pytest.raises(PoseTfError, match="does not fit"):
        geometry.plan_letterbox((100, 100), (400, 400), (368, 432))


def test_resize_maps_edges_onto_edges():
    """What `Letterbox.scale_xy` relies on: cv2.resize takes continuous x to x * cw / w."""
    image = np.zeros((1, 37), np.float32)
    image[0] = np.arange(37) + 0.5                             # value = continuous x of the centre
    out = cv2.resize(image, (23, 1), interpolation=cv2.INTER_LINEAR)[0]
    np.testing.assert_allclose(out[1:-1], ((np.arange(23) + 0.5) * 37 / 23)[1:-1], atol=1e-4)


def test_grid_to_grid_composes_the_mappings():
    base = geometry.plan_letterbox((250, 330), (300, 400))
    other = geometry.plan_letterbox((250, 330), (225, 300))
    m = geometry.grid_to_grid(base, other, 8)
    cells = np.array([[0.0, 0.0], [3.0, 7.5], [49.0, 37.0]])
    image = geometry.grid_to_input(cells, 8) / np.array(base.scale_xy)
    expected = geometry.input_to_grid(image * np.array(other.scale_xy), 8)
    np.testing.assert_allclose(cells @ m[:, :2].T + m[:, 2], expected, atol=1e-12)


def test_resample_grid_reproduces_a_smooth_field():
    ys, xs = np.mgrid[0:30, 0:40].astype(np.float64)
    field = np.stack([0.3 * xs - 0.2 * ys, 0.01 * (xs - 20) ** 2], -1).astype(np.float32)
    m = np.array([[0.75, 0, 1.3], [0, 0.75, 0.9]])
    out = geometry.resample_grid(field, m, (30, 40))
    x = 0.75 * np.arange(40) + 1.3
    y = 0.75 * np.arange(30) + 0.9
    want = np.stack(np.broadcast_arrays(0.3 * x[None] - 0.2 * y[:, None],
                                        0.01 * (x[None] - 20) ** 2 + 0 * y[:, None]), -1)
    inside = (slice(2, int((28 - 0.9) / 0.75)), slice(2, int((38 - 1.3) / 0.75)))
    np.testing.assert_allclose(out[inside], want[inside], atol=2e-3)
    assert out.shape == (30, 40, 2)
    with pytest.raises(ValueError):
        geometry.resample_grid(field, np.array([[1, 0.1, 0], [0, 1, 0]]), (30, 40))


def test_check_grid_refuses_maps_that_do_not_tile_the_canvas():
    geometry.check_grid((38, 50), (304, 400), 8)
    with pytest.raises(PoseTfError, match=r"37x50 cells for a 300x400 input .* stride 8"):
        geometry.check_grid((37, 50), (300, 400), 8, "net.keras")


# ---------------------------------------------------------------------------- round trip

OFFSETS = np.array([[0, 0], [.3, -.3], [-.3, -.3], [.6, 0], [-.6, 0], [1, 1.5], [-1, 1.5],
                    [1.3, 3], [-1.3, 3], [1.4, 4.5], [-1.4, 4.5], [.7, 5], [-.7, 5],
                    [.8, 7], [-.8, 7], [.8, 9], [-.8, 9]])
UNIT = 15.0   # px per unit of OFFSETS: a 135 px tall person


def person_labels(seed=0):
    """One standing person as a dataset stores it: pixel indices, off the pixel grid."""
    rng = np.random.default_rng(seed)
    xy = np.array([160.37, 70.21]) + UNIT * OFFSETS + rng.uniform(-0.5, 0.5, (17, 2))
    return np.concatenate([xy, np.full((17, 1), 2.0)], 1).astype(np.float32)


def gradient_image(h, w):
    """Red grows with x, green with y, blue 255: the fake network finds the content in
    the canvas (blue) and whether it is mirrored (red)."""
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = (40 + 200 * (np.arange(w) + 0.5) / w)[None]
    image[..., 1] = (40 + 200 * (np.arange(h) + 0.5) / h)[:, None]
    image[..., 2] = 255
    return image


class TargetNetwork(Network):
    """Returns the training targets of the record's person for the canvas it receives:
    what a perfect network taught by pose_tf.codec.targets would output."""

    stride = 8              # what it claims
    map_stride = 8          # what it does
    input_multiple = 16
    pad_value = 0.0
    path = "target-network"

    def __init__(self, record_keypoints, area, image_hw):
        self.layout = COCO17
        self.keypoints, self.area, self.image_hw = record_keypoints, area, image_hw
        self.canvases = []

    def _maps(self, canvas):
        import tensorflow as tf

        from pose_tf.codec.targets import TargetConfig, make_targets
        from pose_tf.data import augment

        h0, w0 = self.image_hw
        content = canvas[..., 2] > 127
        cols, rows = np.flatnonzero(content.any(0)), np.flatnonzero(content.any(1))
        x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
        red = canvas[(y0 + y1) // 2, x0:x1, 0]
        mirrored = bool(red[0] > red[-1])
        kx, ky = (x1 - x0) / w0, (y1 - y0) / h0
        # augment's forward matrix (source pixel -> input pixel) of this canvas
        forward = (np.array([[-kx, 0, x1], [0, ky, y0], [0, 0, 1]], np.float32) if mirrored
                   else np.array([[kx, 0, x0], [0, ky, y0], [0, 0, 1]], np.float32))
        moved = augment.transform_keypoints(tf.constant(self.keypoints[None]),
                                            tf.constant(forward), tf.constant(mirrored))
        t = make_targets(moved, np.float32([self.area * kx * ky]), np.ones(17, np.float32),
                         None, canvas.shape[:2], COCO17, TargetConfig(stride=self.map_stride))
        return np.concatenate([t["heatmaps"].numpy(), t["pafs"].numpy()], -1)

    def __call__(self, batch):
        self.canvases += [tuple(c.shape[:2]) for c in batch]
        return np.stack([self._maps(c) for c in batch])


def record_keypoints(labels, image_hw):
    """What the converter stores for these labels: build_sample on a real image file."""
    import os
    import tempfile

    from pose_tf.data.sources.base import build_sample, make_entry

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.png")
        cv2.imwrite(path, gradient_image(*image_hw))
        entry = make_entry("coco", 1, "x.png", path,
                           [{"keypoints": labels, "bbox": [0, 0, 1, 1]}], np.ones(17, bool))
        return build_sample(entry).keypoints[0]


def round_trip(image_hw, input_size, scales=(1.0,), flip=False):
    """Per-keypoint error [17, 2] (px) of labels that went the whole way, and the network."""
    from pose_tf.grouping import PostprocessParams, decode
    from pose_tf.inference.estimator import Estimator

    labels = person_labels()                                    # dataset pixel indices
    record = record_keypoints(labels, image_hw)                 # continuous, once
    np.testing.assert_allclose(record[:, :2], labels[:, :2] + 0.5, atol=1e-5)
    net = TargetNetwork(record, UNIT * 2.8 * UNIT * 9.3, image_hw)
    est = Estimator(net, input_size=input_size, scales=scales, flip=flip)
    maps, to_image = est.predict_maps(gradient_image(*image_hw))
    poses = decode(maps, COCO17, PostprocessParams(), to_image, True)
    assert len(poses) == 1
    written = np.array(poses[0].to_coco(1)["keypoints"], np.float64).reshape(17, 3)
    exact = geometry.continuous_to_index(poses[0].keypoints)   # what to_coco writes, unrounded
    np.testing.assert_allclose(written[:, :2], exact[:, :2], atol=0.006)
    return exact[:, :2] - labels[:, :2], net


CASES = [((250, 330), (300, 400), (1.0,), False),
         ((250, 330), (333, 517), (1.0,), False),
         ((500, 660), (300, 400), (1.0,), False),
         ((250, 330), (300, 400), (1.0,), True),
         ((250, 330), (333, 517), (1.0, 0.75), False),
         ((250, 330), (300, 400), (1.0, 0.75), True),
         ((500, 660), (333, 517), (1.0, 0.75), True)]


@pytest.mark.parametrize("image_hw,input_size,scales,flip", CASES,
                         ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_labels_come_back_where_they_were(image_hw, input_size, scales, flip):
    pytest.importorskip("tensorflow")
    error, net = round_trip(image_hw, input_size, scales, flip)
    # every canvas the network saw is a multiple of its input multiple
    assert all(h % 16 == 0 and w % 16 == 0 for h, w in net.canvases)
    # HEAD's mapping was off by -0.5 / scale (-0.42 px at 300x400 here) plus a stride
    # taken from shapes (300 / 37 = 8.11); now the labels come back to within 0.05 px.
    assert np.abs(error).max() < 0.05, np.abs(error).max(0)


def test_estimator_refuses_a_network_whose_stride_is_wrong():
    pytest.importorskip("tensorflow")
    from pose_tf.inference.estimator import Estimator

    net = TargetNetwork(geometry.index_to_continuous(person_labels()), 1000.0, (250, 330))
    net.stride = 4          # claims 4, returns maps at 8
    with pytest.raises(PoseTfError, match="do not match its stride 4"):
        Estimator(net, input_size=(300, 400)).predict_maps(gradient_image(250, 330))


# ---------------------------------------------------------------------------- EXIF


def exif_jpeg(image_bgr, orientation):
    """JPEG bytes of `image_bgr` carrying an EXIF orientation tag (APP1 inserted by hand)."""
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = buf.tobytes()
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0))
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def red_marker_centre(rgb):
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 100) & (rgb[..., 2] < 100)
    return np.argwhere(red).mean(0)     # (row, column)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_rotated_jpeg_is_stored_upright(tmp_path, orientation):
    pytest.importorskip("tensorflow")
    from convert_testutil import run_convert

    from pose_tf.data.pipeline import decode_image
    from pose_tf.io.images import jpeg_orientation, read_image

    stored = np.full((40, 64, 3), 200, np.uint8)             # as the camera wrote it: 64 wide
    stored[4:12, 6:16] = (0, 0, 255)                          # BGR red, top-left corner
    (tmp_path / "img").mkdir()
    path = tmp_path / "img" / "rot.jpg"
    path.write_bytes(exif_jpeg(stored, orientation))
    assert jpeg_orientation(path.read_bytes()) == orientation
    upright = read_image(path)                                 # inference: EXIF applied
    assert upright.shape == (64, 40, 3)
    kp = [0] * 51
    kp[0:3] = [10, 20, 2]
    (tmp_path / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "rot.jpg", "height": 64, "width": 40}],
        "annotations": [{"id": 1, "image_id": 1, "iscrowd": 0, "num_keypoints": 1, "keypoints": kp,
                         "bbox": [2, 2, 30, 50], "area": 1500, "category_id": 1}],
        "categories": [{"id": 1, "name": "person"}]}))
    summary, samples = run_convert("coco", tmp_path / "ann.json", tmp_path / "img", tmp_path / "out")
    sample = samples["rot.jpg"]
    assert (sample.height, sample.width) == (64, 40)
    assert jpeg_orientation(sample.image_bytes) == 1
    decoded = decode_image(sample.image_bytes).numpy()         # what training sees
    assert decoded.shape == upright.shape
    np.testing.assert_allclose(red_marker_centre(decoded), red_marker_centre(upright), atol=0.5)
    # orientation 6 turns the top-left corner to the top-right, 8 to the bottom-left
    row, col = red_marker_centre(upright)
    assert (row < 32, col < 20) == ((True, False) if orientation == 6 else (False, True))
    np.testing.assert_array_equal(sample.keypoints[0, 0], [10.5, 20.5, 2])


def test_upright_jpeg_bytes_are_kept_as_they_are(tmp_path):
    from pose_tf.data.sources.base import check_image

    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    data = exif_jpeg(image, 1)
    assert check_image(data, "x")[1] is data
    plain = cv2.imencode(".jpg", image)[1].tobytes()
    assert check_image(plain, "x")[1] is plain
