"""Estimator: letterboxing, map flipping, and the real peer network end to end."""
import numpy as np
import pytest

from pose_tf.core.geometry import continuous_to_index, grid_to_input, input_to_grid, mirror_x
from pose_tf.core.keypoints import COCO17, OPENPOSE18
from pose_tf.inference.estimator import Estimator, flip_maps, letterbox
from pose_tf.inference.runtimes import Network

from conftest import COCO_MINI, PEER_GRAPH, need
from test_grouping import render_maps, standing_person


def test_letterbox_keeps_aspect_ratio_and_pads_to_stride_multiple():
    image = np.full((480, 640, 3), 200, np.uint8)
    canvas, box = letterbox(image, (368, 432), fixed_canvas=False)
    assert box.content_hw == (324, 432) and abs(box.scale - 0.675) < 1e-9
    assert canvas.shape == (336, 432, 3)
    assert canvas[323, 431, 0] == 200 and canvas[330, 10, 0] == 0
    canvas, _ = letterbox(image, (368, 432), fixed_canvas=True)
    assert canvas.shape == (368, 432, 3)


@pytest.mark.parametrize("layout", [COCO17, OPENPOSE18], ids=lambda l: l.name)
def test_flip_maps_is_an_involution(layout):
    maps = np.random.default_rng(0).random((12, 16, layout.num_channels), dtype=np.float32)
    np.testing.assert_allclose(flip_maps(flip_maps(maps, layout), layout), maps)


def test_flip_maps_of_mirrored_person_give_the_person_maps():
    person = standing_person(20.0, 6.0, 3.0)
    width = 54
    mirrored = person[list(COCO17.flip_parts)].copy()
    # mirrored in grid coordinates (cell centres are integers): cell c <-> width - 1 - c
    mirrored[:, 0] = input_to_grid(mirror_x(grid_to_input(mirrored[:, 0], 1.0), width), 1.0)
    direct = render_maps([person], shape=(46, width))
    via_flip = flip_maps(render_maps([mirrored], shape=(46, width)), COCO17)
    # heatmaps match exactly up to float error; PAF bands are rasterised, so compare
    # the sum of the vectors, which must agree in direction
    np.testing.assert_allclose(via_flip[..., :18], direct[..., :18], atol=1e-5)
    pafs_direct = direct[..., 18:].reshape(46, width, -1, 2).sum((0, 1))
    pafs_flip = via_flip[..., 18:].reshape(46, width, -1, 2).sum((0, 1))
    cos = (pafs_direct * pafs_flip).sum(-1) / (
        np.linalg.norm(pafs_direct, axis=-1) * np.linalg.norm(pafs_flip, axis=-1))
    assert (cos > 0.99).all()


class Recording(Network):
    """A network that notes the input sizes it is given."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []
        self.layout, self.stride, self.pad_value = inner.layout, inner.stride, inner.pad_value
        self.input_multiple, self.fixed_input, self.path = inner.input_multiple, None, inner.path

    def __call__(self, batch):
        self.seen.append(tuple(batch.shape[1:3]))
        return self.inner(batch)


@pytest.fixture(scope="module")
def peer():
    return Estimator.from_path(str(need(PEER_GRAPH)), layout="openpose18")


def test_peer_network_finds_the_annotated_person(peer):
    import json

    from pose_tf.io.images import read_image

    image = read_image(need(COCO_MINI / "val2017" / "000000397133.jpg"))
    poses = peer(image)
    gt = json.load(open(COCO_MINI / "annotations/person_keypoints_val2017.json"))
    person = next(a for a in gt["annotations"] if a["image_id"] == 397133 and a["num_keypoints"] == 13)
    kps = np.asarray(person["keypoints"], np.float32).reshape(17, 3)   # COCO: pixel indices
    visible = kps[:, 2] > 0
    errors = [np.linalg.norm(continuous_to_index(p.xy)[visible] - kps[visible, :2], axis=1).mean()
              for p in poses]
    # the man at the stove (bbox ~110 x 280 px): joints within a few pixels on average
    assert min(errors) < 10
    assert peer.timings["network"] > 0 and peer.timings["postprocess"] > 0


def test_input_size_off_the_stride_is_padded_and_still_finds_the_person(peer):
    import json

    from pose_tf.io.images import read_image

    image = read_image(need(COCO_MINI / "val2017" / "000000397133.jpg"))
    network = Recording(peer.network)
    poses = Estimator(network, input_size=(300, 400), scales=(1.0, 0.75), flip=True)(image)
    assert network.seen == [(304, 400), (240, 304)]   # 300x400 and 225x300 boxes, padded to 16
    gt = json.load(open(COCO_MINI / "annotations/person_keypoints_val2017.json"))
    person = next(a for a in gt["annotations"] if a["image_id"] == 397133 and a["num_keypoints"] == 13)
    kps = np.asarray(person["keypoints"], np.float32).reshape(17, 3)
    visible = kps[:, 2] > 0
    errors = [np.linalg.norm(continuous_to_index(p.xy)[visible] - kps[visible, :2], axis=1).mean()
              for p in poses]
    assert min(errors) < 10


def test_test_time_augmentation_runs_and_keeps_detections(peer):
    from pose_tf.io.images import read_image

    image = read_image(need(COCO_MINI / "val2017" / "000000397133.jpg"))
    tta = Estimator(peer.network, scales=(1.0, 0.75), flip=True)
    assert len(tta(image)) >= 1
