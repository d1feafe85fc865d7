"""Networks: shapes, reference parameter counts, custom layers, .keras round-trips."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")

from pose_tf.models import BACKBONES, ChannelShuffle, MatchSize, Normalize, build_model  # noqa: E402
from pose_tf.models.backbones import mobilenet_thin, shufflenet_v2  # noqa: E402
from pose_tf.training.settings import ModelSetting  # noqa: E402


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _tiny(backbone, **kw):
    # Small widths keep each build to a second or two; the structure is the real one.
    kw = {"alpha": 0.35, "stages": 2, "neck_channels": 16, "stage_channels": 16, "stage_convs": 1, **kw}
    return ModelSetting(backbone=backbone, **kw)


def test_shufflenet_v2_matches_published_parameter_count():
    # torchvision shufflenet_v2_x1_0 has 2,278,604 parameters; without its conv5
    # (464*1024 weights + 2*1024 BN) and fc (1024*1000 + 1000) that leaves 776,420 for the
    # stem and stages 2-4, which is what our implementation must hold (BN gamma/beta count).
    image = keras.Input((None, None, 3))
    model = keras.Model(image, shufflenet_v2(image, 1.0)[32])
    assert _trainable(model) == 2_278_604 - (464 * 1024 + 2 * 1024) - (1024 * 1000 + 1000)


def test_mobilenet_thin_trunk_is_mobilenet_v1_up_to_layer_11():
    image = keras.Input((None, None, 3))
    thin = keras.Model(image, mobilenet_thin(image, 0.75)[16])
    other = keras.Input((None, None, 3))
    reference = keras.applications.MobileNet(input_tensor=other, alpha=0.75, include_top=False,
                                             weights=None)
    truncated = keras.Model(other, reference.get_layer("conv_pw_11_relu").output)
    assert _trainable(thin) == _trainable(truncated)


# Every backbone with the FPN neck; the concat neck with a backbone that has a stride-4
# level (thin), one whose stride-2 convs floor odd sizes (v1) and one without stride 4 (v3).
CASES = [(b, "fpn") for b in sorted(BACKBONES)] + \
    [("mobilenet_thin", "concat"), ("mobilenet_v1", "concat"), ("mobilenet_v3_small", "concat")]


@pytest.mark.parametrize("backbone, neck", CASES)
def test_every_backbone_and_neck_gives_stride_8_stages(backbone, neck):
    # 80 x 112: multiples of 16 whose stride-16 maps have odd sizes (5 x 7), the case where
    # upsampled coarse maps do not line up without MatchSize.
    model = build_model(_tiny(backbone, neck=neck, stages=3))
    outputs = model(np.zeros((2, 80, 112, 3), np.float32))
    assert isinstance(outputs, list) and len(outputs) == 3
    for out in outputs:
        assert tuple(out.shape) == (2, 10, 14, 58)
        assert out.dtype == "float32"


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_keras_file_round_trip(tmp_path, backbone):
    model = build_model(_tiny(backbone))
    images = np.random.default_rng(0).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    # Non-trivial BN statistics, so a load that silently re-initialised would show.
    for weight in model.weights:
        if "moving_variance" in weight.path:
            weight.assign(np.full(weight.shape, 2.0, np.float32))
    expected = [o.numpy() for o in model(images)]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    got = loaded(images)
    assert loaded.name == model.name
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-5)
    # The shipped contract: any size goes in (None dims), maps come out at stride 8.
    assert tuple(loaded.inputs[0].shape) == (None, None, None, 3)


def test_normalize_maps_pixels_to_unit_range():
    out = Normalize()(np.array([[0.0, 127.5, 255.0]], np.float32))
    np.testing.assert_allclose(np.asarray(out), [[-1.0, 0.0, 1.0]])


def test_channel_shuffle_interleaves_groups():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)
    out = np.asarray(ChannelShuffle(2)(x)).reshape(-1)
    # Groups [0 1 2] and [3 4 5] interleave: 0 3 1 4 2 5 (ShuffleNet's reshape-transpose).
    np.testing.assert_array_equal(out, [0, 3, 1, 4, 2, 5])
    reference = x.reshape(1, 1, 1, 2, 3).transpose(0, 1, 2, 4, 3).reshape(1, 1, 1, 6)
    np.testing.assert_array_equal(out, reference.reshape(-1))


def test_match_size_crops_and_pads():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    bigger = np.zeros((1, 3, 2, 1), np.float32)        # one row more, one column less
    out = np.asarray(MatchSize()([x, bigger]))[0, ..., 0]
    # Columns cropped to 2, the missing third row repeats the last one (symmetric pad).
    np.testing.assert_array_equal(out, [[0, 1], [3, 4], [3, 4]])


def test_stage_count_is_intermediate_supervision():
    model = build_model(_tiny("mobilenet_thin", stages=4))
    assert len(model.outputs) == 4
    for index, output in enumerate(model.outputs, start=1):
        assert output is model.get_layer(f"stage{index}").output
    # Refinement stages see the previous stage's prediction.
    concat = model.get_layer("stage2_concat")
    assert concat.output.shape[-1] == 16 + 58


def _randomised(model, seed=0):
    """Random weights everywhere, BN statistics included (variances positive), so that a
    copied or sliced weight in the wrong place shows in the maps."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                               if "variance" in v.path else
                               rng.normal(0, 0.3, w.shape).astype(np.float32)
                               for w, v in zip(weights, layer.weights)])
    return model


def test_heatmap_branch_splits_the_last_stage():
    from pose_tf.core.keypoints import get_layout

    layout = get_layout("openpose18")
    model = build_model(_tiny("mobilenet_thin", layout="openpose18", heatmap_branch=True))
    assert model.name.endswith("_s2h")
    assert [o.shape[-1] for o in model.outputs] == [layout.num_channels] * 2
    assert model.outputs[-1] is model.get_layer("stage2").output
    assert model.get_layer("stage2_heatmaps").filters == layout.paf_offset == 19
    assert model.get_layer("stage2_pafs").filters == 2 * layout.num_limbs
    assert model.get_layer("stage2").dtype_policy.compute_dtype == "float32"
    # The first stage stays shared, and the two branches see the same input.
    assert model.get_layer("stage1").filters == layout.num_channels
    assert model.get_layer("stage2h_conv1_dw").input is model.get_layer("stage2_conv1_dw").input
    # Each output conv writes only its own channels: zero the PAF branch's output conv and
    # only the PAF channels change.
    _randomised(model)
    image = np.random.default_rng(1).uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)
    before = np.asarray(model(image)[-1])
    pafs = model.get_layer("stage2_pafs")
    pafs.set_weights([np.zeros_like(w) for w in pafs.get_weights()])
    after = np.asarray(model(image)[-1])
    np.testing.assert_array_equal(after[..., : layout.paf_offset], before[..., : layout.paf_offset])
    np.testing.assert_array_equal(after[..., layout.paf_offset:], 0.0)


def _saved_randomised(tmp_path, setting, name):
    """(randomised model of `setting`, its .keras file with the layout recorded)."""
    from pose_tf.inference.runtimes.keras_model import add_model_info

    model = _randomised(build_model(setting))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    add_model_info(path, {"layout": setting.layout})
    return model, path


def test_heatmap_branch_seeded_from_a_shared_stage_computes_the_same_maps(tmp_path):
    from pose_tf.training.trainer import copy_weights

    shared, path = _saved_randomised(tmp_path, _tiny("mobilenet_thin", layout="openpose18"), "shared")
    branched = build_model(_tiny("mobilenet_thin", layout="openpose18", heatmap_branch=True))
    account = copy_weights(str(path), branched, where="test", matching_layers=True)
    # 1 conv block = dw, pw, bn; plus the two output convs; nothing left fresh.
    assert "new stage layers seeded from its stages: 5 layers; fresh: none" in account
    image = np.random.default_rng(2).uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)
    for ours, theirs in zip(branched(image), shared(image)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)


def test_a_third_stage_grown_from_a_two_stage_file_starts_as_a_copy_of_stage_2(tmp_path):
    """Every refinement stage has both branches; a stage the file lacks copies the last one
    it has, so the first two stages compute the file's maps exactly and the third, fed
    stage 2's maps where stage 2 was fed stage 1's, computes stage 2's function again."""
    from dataclasses import replace

    from pose_tf.training.trainer import copy_weights

    setting = _tiny("mobilenet_thin", layout="openpose18", heatmap_branch=True)
    two, path = _saved_randomised(tmp_path, setting, "two")
    three = build_model(replace(setting, stages=3))
    assert three.name.endswith("_s3h")
    for stage in (2, 3):
        assert three.get_layer(f"stage{stage}h_conv1_dw").input is \
            three.get_layer(f"stage{stage}_conv1_dw").input
    account = copy_weights(str(path), three, where="test", matching_layers=True)
    # 2 branches x 1 conv block (dw, pw, bn) + the two output convs; nothing left fresh.
    assert "new stage layers seeded from its stages: 8 layers; fresh: none" in account
    for ours, theirs in (("stage3_conv1_pw", "stage2_conv1_pw"), ("stage3h_conv1_bn", "stage2h_conv1_bn"),
                         ("stage3_heatmaps", "stage2_heatmaps"), ("stage3_pafs", "stage2_pafs")):
        for a, b in zip(three.get_layer(ours).get_weights(), two.get_layer(theirs).get_weights()):
            np.testing.assert_array_equal(a, b)
    image = np.random.default_rng(4).uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)
    ours, theirs = three(image), two(image)
    for a, b in zip(ours[:2], theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    # stage 3 = stage 2's layers applied to (neck features, stage 2's maps)
    features = keras.Model(three.input, three.get_layer("stage2_concat").input[0])(image)
    stage2_again = keras.Model(two.get_layer("stage2_concat").input, two.outputs[-1])
    np.testing.assert_allclose(np.asarray(ours[2]),
                               np.asarray(stage2_again([features, theirs[1]])), rtol=1e-4, atol=1e-5)


def test_stride8_layers_grow_a_network_that_starts_with_the_same_maps(tmp_path):
    """Conv2d_6..7 at stride 8 (dilated) compute, at odd pixels, exactly what the stride-16
    trunk computes, so the stride-16 layers see the same inputs; the new deep lateral starts
    at zero, so the grown network's maps equal the file's (inputs multiples of 16)."""
    from dataclasses import replace

    from pose_tf.training.trainer import copy_weights

    setting = _tiny("mobilenet_thin", layout="openpose18", heatmap_branch=True)
    plain, path = _saved_randomised(tmp_path, setting, "plain")
    grown = build_model(replace(setting, stride8_layers=2))
    assert "_d2_" in grown.name
    account = copy_weights(str(path), grown, where="test", matching_layers=True)
    assert account.endswith("fresh: fpn_lateral8_deep1")
    image = np.random.default_rng(5).uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    for ours, theirs in zip(grown(image), plain(image)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)
    fine = keras.Model(grown.input, grown.get_layer("Conv2d_7_pw_act").output)(image)
    coarse = keras.Model(plain.input, plain.get_layer("Conv2d_7_pw_act").output)(image)
    assert fine.shape[1:3] == (8, 12) and coarse.shape[1:3] == (4, 6)
    np.testing.assert_allclose(np.asarray(fine)[:, 1::2, 1::2], np.asarray(coarse), rtol=1e-5, atol=1e-5)
    # once the deep lateral has weights, the deep stride-8 features reach the maps
    lateral = grown.get_layer("fpn_lateral8_deep1")
    lateral.set_weights([np.full_like(w, 0.1) for w in lateral.get_weights()])
    assert not np.allclose(np.asarray(grown(image)[-1]), np.asarray(plain(image)[-1]), atol=1e-3)


def test_stride8_layers_with_the_concat_neck_give_stride_8_maps():
    model = build_model(_tiny("mobilenet_thin", neck="concat", stride8_layers=1))
    outputs = model(np.zeros((1, 64, 96, 3), np.float32))
    assert all(o.shape[1:3] == (8, 12) for o in outputs)
    assert model.get_layer("neck_concat").input[2] is model.get_layer("Conv2d_6_pw_act").output


def test_stride8_layers_are_a_mobilenet_thin_option():
    with pytest.raises(ValueError, match="stride8_layers needs backbone mobilenet_thin"):
        ModelSetting(backbone="mobilenet_v2", stride8_layers=2).validate()
    with pytest.raises(ValueError, match="must be in 0..6"):
        ModelSetting(stride8_layers=7).validate()


def test_empty_maps_start_covers_both_branches():
    from pose_tf.core.keypoints import get_layout
    from pose_tf.models.heads import start_outputs_at_empty_maps

    layout = get_layout("openpose18")
    model = _randomised(build_model(_tiny("mobilenet_thin", layout="openpose18",
                                          heatmap_branch=True)))
    start_outputs_at_empty_maps(model, layout)
    image = np.random.default_rng(3).uniform(0, 255, (1, 64, 80, 3)).astype(np.float32)
    expected = np.zeros(layout.num_channels, np.float32)
    expected[layout.num_parts] = 1.0      # the background channel: "nobody here"
    for maps in model(image):
        np.testing.assert_array_equal(np.asarray(maps), np.broadcast_to(expected, maps.shape))


def test_unknown_backbone_is_a_clear_error():
    from pose_tf.core.errors import PoseTfError

    with pytest.raises(PoseTfError, match="unknown backbone"):
        build_model(ModelSetting(backbone="resnet50"))


def test_flop_count_matches_hand_count():
    from pose_tf.models.stats import count_params, model_flops

    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(image)                 # with bias
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    model = keras.Model(image, x)
    cells = 16 * 16
    conv = 2 * 3 * 3 * 3 * 8 * cells + 8 * cells      # 2 FLOPs per multiply-add, + bias
    depthwise = 2 * 3 * 3 * 8 * cells
    assert model_flops(model, (1, 16, 16, 3)) == conv + depthwise
    assert count_params(model) == (3 * 3 * 3 * 8 + 8) + 3 * 3 * 8


def test_peer_flops_through_the_same_counter(peer_graph):
    import tensorflow as tf

    from pose_tf.models.stats import frozen_graph_flops

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(peer_graph.read_bytes())
    flops = frozen_graph_flops(graph_def, "image:0", (1, 368, 432, 3))
    # FLOPs scale with the number of pixels (fully convolutional): half the height, about
    # half the FLOPs (the resize and odd borders make it not exact).
    half = frozen_graph_flops(graph_def, "image:0", (1, 184, 432, 3))
    assert 1e9 < flops < 5e9
    assert 0.45 < half / flops < 0.55


def test_keras_runtime_runs_batch_norms_folded_with_the_same_maps(tmp_path):
    """Inference folds every batch norm into its convolution (bfloat16 needs it, float32 is
    faster); the maps must be the file's own, and bfloat16 stays off under "auto" unless
    the file says it was trained under mixed_bfloat16."""
    from pose_tf.inference.runtimes.keras_model import KerasNetwork, add_model_info

    model = build_model(_tiny("mobilenet_thin"))
    rng = np.random.default_rng(1)
    for weight in model.weights:     # statistics far from the identity, as trained ones are
        if "moving_mean" in weight.path:
            weight.assign(rng.normal(0.0, 3.0, weight.shape).astype(np.float32))
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.01, 4.0, weight.shape).astype(np.float32))
    path = tmp_path / "m.keras"
    model.save(path)
    add_model_info(path, {"layout": "coco17", "training_precision": "none"})
    images = rng.uniform(0, 255, (1, 64, 96, 3)).astype(np.float32)
    expected = model(images)[-1].numpy()
    network = KerasNetwork(str(path))
    got = network(images)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, atol=1e-5 * scale + 1e-6)
    graph = network._forward.get_concrete_function().graph
    assert not [op for op in graph.get_operations() if "FusedBatchNorm" in op.type or
                op.type == "Rsqrt"], "a batch norm left unfolded"
    assert network.bfloat16_holds is False
    add_model_info(path, {"layout": "coco17", "training_precision": "mixed_bfloat16"})
    assert KerasNetwork(str(path)).bfloat16_holds is True
