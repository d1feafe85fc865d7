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
