"""The tf.data pipeline: augmentation geometry, recipes, mixing, determinism, real records."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from conftest import COCO_MINI, need  # noqa: E402
from pose_tf.core.errors import PoseTfError  # noqa: E402
from pose_tf.core.keypoints import COCO_FLIP, JOINT_SETS  # noqa: E402
from pose_tf.data import augment, records  # noqa: E402
from pose_tf.data.pipeline import build_dataset, decode_image, preprocess  # noqa: E402
from pose_tf.data.recipes import load_recipe, single_source  # noqa: E402

INPUT = (128, 160)   # small input keeps the tests fast; geometry does not depend on size


# ---------------------------------------------------------------------------- helpers

def _colour(k):
    """A distinct, saturated colour per joint (markers to follow through the warp)."""
    hue = int(k * 180 / 17)
    hsv = np.uint8([[[hue, 255, 255]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(int)


def marker_sample(seed=0, size=(240, 320), with_mask=False, labelled=None):
    """An image with one coloured 9x9 square per joint of one person, as a Sample."""
    rng = np.random.default_rng(seed)
    h, w = size
    image = np.full((h, w, 3), 40, np.uint8)
    kp = np.zeros((1, 17, 3), np.float32)
    # One marker per cell of a coarse grid (shuffled, jittered), so markers never overlap.
    cells = [(cx, cy) for cy in range(40, h - 39, 32) for cx in range(40, w - 39, 32)]
    order = rng.permutation(len(cells))[:17]
    for k in range(17):
        cx, cy = cells[order[k]]
        xi, yi = cx + int(rng.integers(-8, 9)), cy + int(rng.integers(-8, 9))
        image[yi - 4: yi + 5, xi - 4: xi + 5] = _colour(k)
        kp[0, k] = (xi + 0.5, yi + 0.5, 2)           # centre of the square, continuous coords
    ok, png = cv2.imencode(".png", image[..., ::-1])
    mask = np.zeros((h, w), np.uint8)
    if with_mask:
        mask[20:80, 30:130] = 255
    return records.Sample(
        image_bytes=png.tobytes(), image_format="png", height=h, width=w, image_id=seed,
        filename=f"marker{seed}.png", source="synthetic", keypoints=kp,
        bbox=[[30, 30, w - 60, h - 60]], area=[(w - 60) * (h - 60)], track_id=[-1],
        labelled=np.ones(17, bool) if labelled is None else labelled,
        ignore_png=records.encode_mask_png(mask))


def write_shards(folder, prefix, samples, num_shards=2):
    os.makedirs(folder, exist_ok=True)
    encoded = [records.encode(s) for s in samples]
    for i in range(num_shards):
        records.write_records(records.shard_path(folder, prefix, i, num_shards), encoded[i::num_shards])
    return os.path.join(folder, f"{prefix}-*-of-*.tfrecord")


def _parsed(sample):
    return records.parse_example(tf.constant(records.encode(sample)))


@pytest.fixture(scope="module")
def coco_records(tmp_path_factory):
    """coco_mini val converted with the project's COCO reader (crowds, zero-kp people)."""
    need(COCO_MINI)
    from pose_tf.data.sources import base, coco

    result = coco.read(COCO_MINI / "annotations" / "person_keypoints_val2017.json",
                       COCO_MINI / "val2017")
    # Mostly images with people, some without (background-only samples are valid input).
    with_people = [e for e in result.entries if len(e.keypoints)][:18]
    without = [e for e in result.entries if not len(e.keypoints)][:6]
    samples = [base.build_sample(e) for e in with_people + without]
    folder = tmp_path_factory.mktemp("coco_records")
    return write_shards(folder, "coco-val2017", samples, 3), samples


# ---------------------------------------------------------------------------- geometry

def test_warp_matches_opencv_with_the_same_matrix():
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (120, 150, 3), np.uint8), (7, 7), 3)
    forward = augment.affine(tf.constant([75.0, 60.0]), 0.8, 0.3, tf.constant(True),
                             tf.constant([80.0, 64.0])).numpy()
    ours = augment.warp_image(tf.constant(image, tf.float32), tf.constant(forward), INPUT, 0.0).numpy()
    # OpenCV works in index coordinates (pixel centres on integers): conjugate by 0.5.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    index_forward = np.linalg.inv(shift) @ forward @ shift
    ref = cv2.warpAffine(image.astype(np.float32), index_forward[:2], (INPUT[1], INPUT[0]),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(ours[inner] - ref[inner]).mean() < 0.5
    assert np.abs(ours[inner] - ref[inner]).max() < 4.0


@pytest.mark.parametrize("seed", range(6))
def test_keypoints_stay_on_their_markers_through_augmentation(seed):
    sample = marker_sample(seed)
    ex = _parsed(sample)
    image = decode_image(ex["image_bytes"])
    config = augment.AugmentConfig(scale_min=0.8, scale_max=1.2, flip_prob=0.5)
    forward, flip, _, _ = augment.random_params(tf.constant([seed, 7], tf.int64), tf.shape(image)[:2],
                                                ex["keypoints"], ex["bbox"], INPUT, config)
    warped = augment.warp_image(image, forward, INPUT, 0.0).numpy().astype(int)
    moved = augment.transform_keypoints(ex["keypoints"], forward, flip).numpy()[0]
    # After a flip, keypoint k is the mirrored joint, so it sits on that joint's marker.
    source_joint = COCO_FLIP if bool(flip) else np.arange(17)
    checked = 0
    for k in range(17):
        x, y = moved[k, :2]
        if not (3 <= x < INPUT[1] - 3 and 3 <= y < INPUT[0] - 3):
            continue
        pixel = warped[int(y), int(x)]
        assert np.abs(pixel - _colour(source_joint[k])).max() < 40, (k, pixel)
        checked += 1
    assert checked >= 5


def test_flip_happens_and_swaps_labelled_flags():
    labelled = JOINT_SETS["mpii16"].labelled().astype(np.float32)
    seen = set()
    for seed in range(12):
        u = tf.random.stateless_uniform([8], seed=[seed, 0])
        flip = u[2] < 0.5
        seen.add(bool(flip))
        got = augment.flip_labelled(tf.constant(labelled), flip).numpy()
        np.testing.assert_array_equal(got, labelled[COCO_FLIP] if bool(flip) else labelled)
    assert seen == {True, False}


def test_ignore_mask_follows_the_image():
    sample = marker_sample(3, with_mask=True)
    ex = _parsed(sample)
    forward = augment.affine(tf.constant([160.0, 120.0]), 0.5, 0.4, tf.constant(False),
                             tf.constant([80.0, 64.0]))
    fraction = augment.ignore_fraction(tf.io.decode_png(ex["ignore_png"], 1)[..., 0], forward,
                                       INPUT, 8).numpy()
    # Reference: warp the mask with OpenCV (nearest) and average 8x8 blocks.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    m = np.linalg.inv(shift) @ forward.numpy() @ shift
    warped = cv2.warpAffine(sample.ignore_mask(), m[:2], (INPUT[1], INPUT[0]), flags=cv2.INTER_NEAREST)
    ref = warped.reshape(INPUT[0] // 8, 8, INPUT[1] // 8, 8).mean(axis=(1, 3)) / 255.0
    assert fraction.shape == (16, 20)
    assert np.abs(fraction - ref).max() < 0.15
    assert fraction.max() == 1.0 and (fraction == 0).mean() > 0.5


def test_preprocess_masks_ignore_region_and_unlabelled_joints():
    labelled = JOINT_SETS["mpii16"].labelled()
    sample = marker_sample(4, with_mask=True, labelled=labelled)
    image, maps = preprocess(_parsed(sample), tf.constant([0, 0], tf.int64), input_size=INPUT,
                             training=False)
    assert image.shape == INPUT + (3,) and image.dtype == tf.float32
    hm_mask = maps["heatmap_mask"].numpy()
    # Evaluation fit: 320x240 -> scale 0.5 (width bound), centred (y offset 4). Mask rows
    # 20:80, cols 30:130 -> input rows 14:44, cols 15:65 -> cell (2, 4) inside, (12, 18) not.
    assert hm_mask[2, 4, 17] == 0 and hm_mask[12, 18, 17] == 1
    assert (hm_mask[..., :5] == 0).all()            # MPII: no nose, eyes, ears
    assert maps["heatmaps"].numpy()[..., 5:17].max() > 0.9


def test_colour_jitter_equals_the_sequential_operations():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 255, (20, 30, 3)).astype(np.float32)
    config = augment.AugmentConfig(brightness=30, contrast=0.3, saturation=0.3)
    seed = tf.constant([4, 5], tf.int64)
    got = augment.colour_jitter(tf.constant(image), seed, config).numpy()
    u = 2.0 * tf.random.stateless_uniform([3], seed=seed).numpy() - 1.0
    grey = image @ np.float32([0.299, 0.587, 0.114])
    x = grey[..., None] + (1 + 0.3 * u[2]) * (image - grey[..., None])      # saturation
    x = grey.mean() + (1 + 0.3 * u[1]) * (x - grey.mean()) + 30 * u[0]       # contrast, brightness
    np.testing.assert_allclose(got, np.clip(x, 0, 255), atol=1e-3)
    assert np.abs(got - image).max() > 1        # it did change something


# ---------------------------------------------------------------------------- recipes

def _recipe_file(folder, text):
    path = os.path.join(folder, "r.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_recipe_root_substitution_and_errors(tmp_path, monkeypatch):
    write_shards(tmp_path / "recs", "a", [marker_sample(i) for i in range(4)])
    path = _recipe_file(tmp_path, "name: t\nrecords_root: recs\nsources:\n"
                                  "  - {name: a, records: '${POSE_TF_RECORDS}/a-*.tfrecord', weight: 2}\n")
    monkeypatch.delenv("POSE_TF_RECORDS", raising=False)
    recipe = load_recipe(path)
    assert [len(f) for f in recipe.files()] == [2]                        # recipe key, relative
    assert len(recipe.files(records_root=str(tmp_path / "recs"))[0]) == 2  # explicit root
    monkeypatch.setenv("POSE_TF_RECORDS", str(tmp_path / "nowhere"))
    with pytest.raises(PoseTfError, match="no record files match"):
        recipe.files()
    bad = _recipe_file(tmp_path, "name: t\nsources:\n  - {name: a, records: x, weight: 0}\n")
    with pytest.raises(PoseTfError, match="r.yaml.*weight"):
        load_recipe(bad)
    bad = _recipe_file(tmp_path, "name: t\nsources:\n  - {name: a, records: x, wieght: 1}\n")
    with pytest.raises(PoseTfError, match="wieght"):
        load_recipe(bad)


SHIPPED = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "datasets").glob("*.yaml"))


def test_the_contract_recipes_are_shipped():
    assert {"F6", "F7", "shared_train", "shared_val"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_load(name):
    recipe = load_recipe(name)
    assert recipe.sources and abs(sum(recipe.weights) - 1) < 1e-9
    for source in recipe.sources:
        assert "*" in source.records


def test_f7_is_f6_plus_ntu():
    f6, f7 = load_recipe("F6"), load_recipe("F7")
    f6_globs = {s.records for s in f6.sources}
    assert f6_globs < {s.records for s in f7.sources}
    assert {s.name for s in f7.sources} - {s.name for s in f6.sources} == {"ntu"}


def test_sources_are_mixed_by_weight(tmp_path):
    from pose_tf.data.pipeline import records_dataset

    write_shards(tmp_path, "a", [marker_sample(i) for i in range(6)])
    write_shards(tmp_path, "b", [marker_sample(100 + i) for i in range(6)])
    path = _recipe_file(tmp_path, "name: t\nsources:\n"
                                  "  - {name: a, records: 'a-*.tfrecord', weight: 3}\n"
                                  "  - {name: b, records: 'b-*.tfrecord', weight: 1}\n")
    def image_ids(seed):
        ds = records_dataset(load_recipe(path), training=True, seed=seed, shuffle_buffer=4)
        return [records.decode(x).image_id for x in ds.take(800).as_numpy_iterator()]

    ids = image_ids(5)
    share_a = np.mean([i < 100 for i in ids])
    assert 0.68 < share_a < 0.82                       # 0.75 expected, binomial sd 0.015
    assert image_ids(5) == ids                         # the mixing is reproducible
    assert image_ids(6) != ids


# ------------------------------------------------------------- multi-worker sharding

def _pipeline_ids(recipe, pipeline, training, take=None, seed=None):
    """Image ids of the records input pipeline `pipeline` of 2 reads (`take` of them when
    training: the stream is endless), through a fake tf.distribute input context."""
    from pose_tf.data.pipeline import records_dataset

    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline,
                                         num_replicas_in_sync=2)
    ds = records_dataset(recipe, training=training, seed=seed, shuffle_buffer=4,
                         input_shard=(context.num_input_pipelines, context.input_pipeline_id))
    if take:
        ds = ds.take(take)
    return [records.decode(x).image_id for x in ds.as_numpy_iterator()]


def test_two_input_pipelines_read_disjoint_shard_files_covering_all(tmp_path):
    """FILE sharding: pipeline i reads shard files i, i + 2, ... and nothing else."""
    glob_ = write_shards(tmp_path, "a", [marker_sample(i) for i in range(10)], num_shards=5)
    recipe = single_source(glob_)
    shard_of = lambda image_id: image_id % 5          # write_shards deals samples round-robin
    once = [_pipeline_ids(recipe, i, training=False) for i in (0, 1)]
    assert sorted(once[0] + once[1]) == list(range(10))    # every record once, in all
    assert {shard_of(i) for i in once[0]} == {0, 2, 4}
    assert {shard_of(i) for i in once[1]} == {1, 3}
    # Training streams (endless, own seeds like the trainer's workers) keep to their files.
    streams = [_pipeline_ids(recipe, i, training=True, take=60, seed=3 + 7919 * i) for i in (0, 1)]
    assert {shard_of(i) for i in streams[0]} == {0, 2, 4}
    assert {shard_of(i) for i in streams[1]} == {1, 3}
    assert set(streams[0]) | set(streams[1]) == set(range(10))


def test_fewer_shard_files_than_pipelines_shard_the_records(tmp_path):
    """DATA sharding fallback: one file, two pipelines: each keeps every other record of
    the same order, so the two still never share a record, epoch after epoch."""
    glob_ = write_shards(tmp_path, "one", [marker_sample(i) for i in range(7)], num_shards=1)
    recipe = single_source(glob_)
    once = [_pipeline_ids(recipe, i, training=False) for i in (0, 1)]
    assert once == [[0, 2, 4, 6], [1, 3, 5]]
    streams = [_pipeline_ids(recipe, i, training=True, take=24, seed=3 + 7919 * i) for i in (0, 1)]
    assert set(streams[0]) == {0, 2, 4, 6} and set(streams[1]) == {1, 3, 5}
    from pose_tf.data.pipeline import records_dataset

    with pytest.raises(PoseTfError, match=r"input_shard .* got \(2, 2\)"):
        records_dataset(recipe, training=True, input_shard=(2, 2))


# ---------------------------------------------------------------------------- datasets

def test_build_dataset_is_deterministic_under_a_seed(coco_records):
    glob_, _ = coco_records
    recipe = single_source(glob_)

    def first_batches(seed):
        ds = build_dataset(recipe, input_size=INPUT, batch_size=3, training=True, seed=seed,
                           shuffle_buffer=8)
        return [(im.numpy(), {k: v.numpy() for k, v in m.items()}) for im, m in ds.take(2)]

    a, b, c = first_batches(11), first_batches(11), first_batches(12)
    for (ia, ma), (ib, mb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        for key in ma:
            np.testing.assert_array_equal(ma[key], mb[key])
    assert not np.array_equal(a[0][0], c[0][0])


def test_training_batches_follow_the_contract(coco_records):
    glob_, _ = coco_records
    ds = build_dataset(single_source(glob_), batch_size=4, training=True, seed=0, shuffle_buffer=8)
    spec_images, spec_maps = ds.element_spec
    assert spec_images.shape.as_list() == [4, 368, 432, 3]
    assert spec_maps["heatmaps"].shape.as_list() == [4, 46, 54, 18]
    assert spec_maps["pafs"].shape.as_list() == [4, 46, 54, 40]
    assert spec_maps["heatmap_mask"].shape.as_list() == [4, 46, 54, 18]
    assert spec_maps["paf_mask"].shape.as_list() == [4, 46, 54, 40]
    images, maps = next(iter(ds))
    assert images.dtype == tf.float32 and 0 <= float(tf.reduce_min(images))
    assert float(tf.reduce_max(images)) <= 255
    heat = maps["heatmaps"].numpy()
    assert heat[..., :17].max() > 0.9                     # people are there
    np.testing.assert_allclose(heat[..., 17], np.maximum(0, 1 - heat[..., :17].max(-1)), atol=1e-6)
    norms = np.linalg.norm(maps["pafs"].numpy().reshape(4, 46, 54, 20, 2), axis=-1)
    assert norms.max() <= 1 + 1e-5 and norms.max() > 0.99


def test_evaluation_pass_reads_every_record_once(coco_records):
    glob_, samples = coco_records
    ds = build_dataset(single_source(glob_), input_size=INPUT, batch_size=5, training=False)
    total = sum(int(im.shape[0]) for im, _ in ds)
    assert total == len(samples)


def test_crowd_regions_reach_the_loss_mask(coco_records):
    glob_, samples = coco_records
    with_mask = [s for s in samples if s.ignore_png]
    assert with_mask, "coco_mini val has crowd / zero-keypoint people"
    sample = with_mask[0]
    _, maps = preprocess(_parsed(sample), tf.constant([0, 0], tf.int64), input_size=(368, 432),
                         training=False)
    hm_mask = maps["heatmap_mask"].numpy()[..., 17]
    # Reference: the record's mask fitted like the image, averaged per 8x8 cell.
    h, w = sample.height, sample.width
    scale = min(368 / h, 432 / w)
    forward = np.array([[scale, 0, 216 - scale * w / 2], [0, scale, 184 - scale * h / 2], [0, 0, 1]])
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    m = np.linalg.inv(shift) @ forward @ shift
    warped = cv2.warpAffine(sample.ignore_mask(), m[:2], (432, 368), flags=cv2.INTER_NEAREST)
    share = warped.reshape(46, 8, 54, 8).mean(axis=(1, 3)) / 255.0
    sure = (share > 0.8) | (share < 0.2)
    assert (hm_mask == 0).any()
    np.testing.assert_array_equal(hm_mask[sure], (share[sure] < 0.5).astype(np.float32))


# ---------------------------------------------------------------------------- mosaics

def _marker_records(folder, count=8):
    return single_source(write_shards(folder, "m", [marker_sample(i) for i in range(count)]))


def test_mosaic_places_four_half_size_crops_in_reading_order(tmp_path):
    from pose_tf.data.pipeline import samples_dataset, tile_seed

    recipe = _marker_records(tmp_path)
    config = augment.AugmentConfig(mosaic_prob=1.0)
    mosaics = samples_dataset(recipe, input_size=INPUT, training=True, seed=3, augment=config,
                              shuffle_buffer=4)
    # The tiles are the crops of a plain pipeline at half the size, seeded like the mosaics'.
    tiles = samples_dataset(recipe, input_size=(INPUT[0] // 2, INPUT[1] // 2), training=True,
                            seed=tile_seed(3), augment=augment.AugmentConfig(), shuffle_buffer=4)
    (image, maps), = mosaics.take(1)
    (tile_images, tile_maps), = tiles.batch(4).take(1)
    assert image.shape == (*INPUT, 3)
    assert maps["heatmaps"].shape[:2] == (INPUT[0] // 8, INPUT[1] // 8)
    h, w = INPUT[0] // 2, INPUT[1] // 2
    for k, (row, col) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        np.testing.assert_array_equal(image[row * h:(row + 1) * h, col * w:(col + 1) * w],
                                      tile_images[k])
        for key, value in maps.items():
            gh, gw = h // 8, w // 8
            np.testing.assert_array_equal(value[row * gh:(row + 1) * gh, col * gw:(col + 1) * gw],
                                          tile_maps[key][k], err_msg=key)


def test_mosaic_share_follows_mosaic_prob_and_names_its_tiles(tmp_path):
    from pose_tf.data.pipeline import samples_dataset

    recipe = _marker_records(tmp_path)

    def names(seed, prob=0.5):
        ds = samples_dataset(recipe, input_size=INPUT, training=True, seed=seed, with_info=True,
                             augment=augment.AugmentConfig(mosaic_prob=prob), shuffle_buffer=4)
        return [info["filename"].decode() for _, _, info in ds.take(60).as_numpy_iterator()]

    first = names(4)
    joined = [n for n in first if "+" in n]
    assert 18 <= len(joined) <= 42                    # 30 expected, binomial sd 3.9
    assert all(len(n.split("+")) == 4 for n in joined)
    assert names(4) == first                          # the mix repeats under a seed
    assert not any("+" in n for n in names(4, prob=0.0))


def test_mosaic_needs_tiles_on_whole_cells_and_a_probability(tmp_path):
    from pose_tf.data.pipeline import samples_dataset

    recipe = _marker_records(tmp_path, 2)
    with pytest.raises(PoseTfError, match="divisible by 2 x stride"):
        samples_dataset(recipe, input_size=(120, 160), training=True, seed=0,
                        augment=augment.AugmentConfig(mosaic_prob=0.5))
    with pytest.raises(ValueError, match="mosaic_prob"):
        augment.AugmentConfig(mosaic_prob=1.5).validate()
    # Evaluation never makes mosaics: the whole image is fitted as before.
    ds = samples_dataset(recipe, input_size=(120, 160), training=False,
                         augment=augment.AugmentConfig(mosaic_prob=1.0))
    assert len(list(ds)) == 2
