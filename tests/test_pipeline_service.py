"""The pipeline through tf.data service (dispatcher + worker on localhost), and
`pose-tf inspect-records` end to end."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pose_tf.data.pipeline import build_dataset  # noqa: E402
from pose_tf.data.recipes import single_source  # noqa: E402
from pose_tf.data.service import start_local  # noqa: E402
from test_pipeline import marker_sample, write_shards  # noqa: E402

INPUT = (64, 80)


@pytest.fixture(scope="module")
def marker_records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("service_records")
    return write_shards(folder, "markers", [marker_sample(i, with_mask=i % 2 == 0) for i in range(6)])


def test_batches_and_training_through_a_local_data_service(marker_records):
    service = start_local(num_workers=1)
    try:
        recipe = single_source(marker_records)
        ds = build_dataset(recipe, input_size=INPUT, batch_size=2, training=True, seed=1,
                           shuffle_buffer=4, service=service.target, service_job="test")
        batches = list(ds.take(3))
        assert len(batches) == 3
        for images, maps in batches:
            assert images.shape == (2,) + INPUT + (3,)
            assert maps["heatmaps"].shape == (2, 8, 10, 18)
            assert maps["pafs"].shape == (2, 8, 10, 40)
            assert float(tf.reduce_max(maps["heatmaps"][..., :17])) > 0.5
        # The same batches as the local pipeline would make: the service moves work, not results.
        local = build_dataset(recipe, input_size=INPUT, batch_size=2, training=True, seed=1,
                              shuffle_buffer=4)
        local_first = next(iter(local))
        np.testing.assert_array_equal(batches[0][0].numpy(), local_first[0].numpy())

        # A few training steps of a tiny model fed by the service.
        import keras

        inp = keras.Input((None, None, 3))
        out = keras.layers.Conv2D(58, 8, strides=8)(inp / 255.0)
        model = keras.Model(inp, out)
        model.compile(optimizer="sgd", loss="mse")
        train = ds.map(lambda im, m: (im, tf.concat([m["heatmaps"], m["pafs"]], axis=-1)))
        history = model.fit(train, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
        assert np.isfinite(history.history["loss"][0])
    finally:
        service.stop()


def test_inspect_records_writes_sheets(marker_records, tmp_path):
    import cv2

    from pose_tf.cli import main

    out = tmp_path / "sheets"
    code = main(["inspect-records", "--records", marker_records, "--out", str(out), "--num", "2",
                 "--input-size", "128", "160"])
    assert code == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == 2
    sheet = cv2.imread(str(files[0]))
    assert sheet.shape == (256, 320, 3)
    # The heatmap panel differs from the plain input panel where the joints are.
    assert np.abs(sheet[:128, :160].astype(int) - sheet[:128, 160:].astype(int)).max() > 50


def test_inspect_records_reports_missing_records(tmp_path, capsys):
    from pose_tf.cli import main

    code = main(["inspect-records", "--records", str(tmp_path / "none-*.tfrecord"),
                 "--out", str(tmp_path / "o")])
    assert code == 2
    assert "no record files match" in capsys.readouterr().err


def test_inspect_records_refuses_a_mosaic_share_outside_0_1(marker_records, tmp_path, capsys):
    from pose_tf.cli import main

    code = main(["inspect-records", "--records", marker_records, "--out", str(tmp_path / "o"),
                 "--mosaic-prob", "1.5"])
    assert code == 2
    assert "--mosaic-prob must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_data_service_command_serves_the_pipeline(marker_records):
    """`pose-tf data-service dispatcher` and `... worker` as separate processes (as on
    separate hosts), the trainer reading batches through them."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(root))
    port, worker_port = _free_port(), _free_port()
    cli = [sys.executable, "-m", "pose_tf", "data-service"]
    procs = [subprocess.Popen(cli + ["dispatcher", "--port", str(port)], env=env, cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen(
            cli + ["worker", "--dispatcher", f"grpc://localhost:{port}", "--port", str(worker_port),
                   "--worker-address", f"localhost:{worker_port}"],
            env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.0)
        assert all(p.poll() is None for p in procs), "a server exited early"
        ds = build_dataset(single_source(marker_records), input_size=INPUT, batch_size=2,
                           training=True, seed=2, shuffle_buffer=4,
                           service=f"grpc://localhost:{port}")
        shapes = [tuple(images.shape) for images, _ in ds.take(2)]
        assert shapes == [(2,) + INPUT + (3,)] * 2
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
