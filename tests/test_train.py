"""Training: loss, schedules, exact resume (also after SIGKILL), tf.distribute, real data."""
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from _train_tools import synthetic_dataset_fn, tiny_setting  # noqa: E402
from conftest import COCO_MINI, need  # noqa: E402
from pose_tf.core.errors import PoseTfError  # noqa: E402
from pose_tf.training.losses import masked_mse  # noqa: E402
from pose_tf.training.schedules import learning_rate_schedule  # noqa: E402
from pose_tf.training.settings import LearningRate  # noqa: E402
from pose_tf.training.trainer import Trainer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tests" / "_train_tools.py"


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


# -- schedule and loss -----------------------------------------------------------------

def test_cosine_schedule_with_warmup_by_hand():
    lr = learning_rate_schedule(
        LearningRate(schedule="cosine", base=0.1, warmup_steps=10, final_fraction=0.0), 110)
    assert float(lr(0)) == pytest.approx(0.1 * 1 / 10)          # warm-up: (step+1)/10
    assert float(lr(4)) == pytest.approx(0.1 * 5 / 10)
    assert float(lr(10)) == pytest.approx(0.1)                   # cosine starts at base
    assert float(lr(60)) == pytest.approx(0.05)                  # half-way: base / 2
    assert float(lr(110)) == pytest.approx(0.0, abs=1e-9)
    assert float(lr(500)) == pytest.approx(0.0, abs=1e-9)        # stays at the end value


def test_step_and_exponential_schedules_by_hand():
    step = learning_rate_schedule(
        LearningRate(schedule="step", base=1.0, boundaries=[10, 20], factor=0.5), 100)
    assert [float(step(s)) for s in (0, 9, 10, 19, 20, 99)] == \
        pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    exp = learning_rate_schedule(
        LearningRate(schedule="exponential", base=1.0, factor=0.5, decay_steps=10), 100)
    assert float(exp(20)) == pytest.approx(0.25)
    assert float(exp(5)) == pytest.approx(0.5 ** 0.5)


def test_masked_mse_matches_numpy():
    rng = np.random.default_rng(1)
    shape = (2, 3, 4)
    targets = {
        "heatmaps": rng.random(shape + (18,), np.float32),
        "pafs": rng.random(shape + (40,), np.float32),
        "heatmap_mask": (rng.random(shape + (18,)) > 0.3).astype(np.float32),
        "paf_mask": (rng.random(shape + (40,)) > 0.3).astype(np.float32),
    }
    outputs = [rng.random(shape + (58,), np.float32) for _ in range(3)]
    total, per_stage = masked_mse([tf.constant(o) for o in outputs],
                                  {k: tf.constant(v) for k, v in targets.items()})
    target = np.concatenate([targets["heatmaps"], targets["pafs"]], -1)
    mask = np.concatenate([targets["heatmap_mask"], targets["paf_mask"]], -1)
    expected = [(mask * (o - target) ** 2).mean(axis=(1, 2, 3)) for o in outputs]
    for got, want in zip(per_stage, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(total.numpy(), np.sum(expected, 0), rtol=1e-6)
    # A masked cell does not contribute, whatever the prediction there.
    outputs[0][mask == 0] = 1e6
    _, again = masked_mse([tf.constant(o) for o in outputs], {k: tf.constant(v) for k, v in targets.items()})
    np.testing.assert_allclose(again[0].numpy(), expected[0], rtol=1e-6)
    # paf_weight scales the PAF channels' squared errors only.
    outputs[0][mask == 0] = 0.5
    weight = np.concatenate([np.ones(18), np.full(40, 3.0)]).astype(np.float32)
    _, weighted = masked_mse([tf.constant(o) for o in outputs],
                             {k: tf.constant(v) for k, v in targets.items()}, paf_weight=3.0)
    np.testing.assert_allclose(weighted[1].numpy(),
                               (weight * mask * (outputs[1] - target) ** 2).mean(axis=(1, 2, 3)),
                               rtol=1e-6)


# -- checkpoints -----------------------------------------------------------------------

def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def test_fresh_run_starts_from_empty_maps(tmp_path):
    """Before step 1 every stage predicts "nobody": joints and PAFs 0, background 1."""
    trainer = Trainer(tiny_setting(str(tmp_path), 2), dataset_fn=synthetic_dataset_fn())
    trainer.restore_or_start(resume=False)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 48, 3)).astype("float32")
    for stage in trainer.model(images, training=False):
        stage = np.asarray(stage)
        np.testing.assert_array_equal(stage[..., :17], 0.0)
        np.testing.assert_array_equal(stage[..., 17], 1.0)
        np.testing.assert_array_equal(stage[..., 18:], 0.0)
    trainer.run(max_steps=2)   # and the zero kernels do learn
    assert np.abs(trainer.model.get_layer("stage2").get_weights()[0]).max() > 0
    trainer.close()


def test_init_from_starts_a_fresh_run_from_another_models_weights(tmp_path):
    """training.init_from: step 0, new optimizer, but the given file's weights; a file of
    another architecture is refused, naming the setting key."""
    from dataclasses import replace

    donor = Trainer(tiny_setting(str(tmp_path / "donor"), 2), dataset_fn=synthetic_dataset_fn())
    donor.run()
    donor_file = tmp_path / "donor.keras"
    donor.model.save(donor_file)
    setting = tiny_setting(str(tmp_path / "ft"), 2)
    setting = replace(setting, training=replace(setting.training, init_from=str(donor_file)))
    tuned = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    tuned.restore_or_start(resume=False)
    assert tuned.step == 0
    for a, b in zip(_weights(donor.model), _weights(tuned.model)):
        np.testing.assert_array_equal(a, b)
    assert "initial weights from" in (tmp_path / "ft" / "logs" / "tiny" / "train.log").read_text()
    donor.close(), tuned.close()

    wider = replace(setting.model, neck_channels=16)
    other = replace(setting, model=wider, training=replace(setting.training, work_dir=str(tmp_path / "w")))
    with pytest.raises(PoseTfError, match="training.init_from: .*different network"):
        Trainer(other, dataset_fn=synthetic_dataset_fn()).restore_or_start(resume=False)


def test_batch_norm_recalibration_is_the_average_of_batch_statistics():
    import keras

    from pose_tf.models.batchnorm import recalibrate_batch_norm

    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.BatchNormalization(momentum=0.99, name="bn")(inputs)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    # Three batches with different statistics per channel.
    batches = [rng.normal(loc, 1 + loc, (2, 4, 4, 3)).astype("float32") for loc in (0.0, 2.0, 5.0)]
    assert recalibrate_batch_norm(model, batches) == 3
    bn = model.get_layer("bn")
    means = [b.mean(axis=(0, 1, 2)) for b in batches]
    variances = [b.var(axis=(0, 1, 2)) for b in batches]
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean(means, 0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean(variances, 0), rtol=1e-4)
    assert bn.momentum == 0.99                      # restored afterwards


def test_evaluations_see_recalibrated_statistics_and_training_does_not(tmp_path):
    """The evaluated .keras file has BN statistics recomputed on training batches; the
    live model (checkpoints, exact resume) keeps its moving averages."""
    import dataclasses

    import keras

    setting = tiny_setting(str(tmp_path), 4, eval_every=2)
    setting = dataclasses.replace(setting, training=dataclasses.replace(
        setting.training, bn_recalibration_batches=3))
    seen = []

    def evaluate_fn(path):
        saved = keras.models.load_model(path, compile=False)
        seen.append([w.numpy().copy() for w in saved.weights if "moving" in w.path])
        return {"AP": 0.0}

    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn(), evaluate_fn=evaluate_fn)
    trainer.run()
    live = [w.numpy() for w in trainer.model.weights if "moving" in w.path]
    assert len(seen) == 2 and len(seen[-1]) == len(live) > 0
    assert any(not np.allclose(a, b) for a, b in zip(seen[-1], live))
    final = keras.models.load_model(str(tmp_path / "runs" / "tiny" / "final.keras"), compile=False)
    assert any(not np.allclose(w.numpy(), b) for w, b in
               zip([w for w in final.weights if "moving" in w.path], live))
    trainer.close()


def test_moving_batch_norm_keeps_the_statistics_and_trains_the_rest(tmp_path):
    """training.batch_norm: moving: steps normalise with the moving averages, which stay
    as they were; convolutions and the batch norms' scale and offset still learn."""
    import dataclasses

    setting = tiny_setting(str(tmp_path), 3)
    setting = dataclasses.replace(setting, training=dataclasses.replace(
        setting.training, batch_norm="moving"))
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    trainer.restore_or_start(resume=False)
    before = {w.path: w.numpy().copy() for w in trainer.model.weights}
    trainer.run(max_steps=3)
    after = {w.path: w.numpy() for w in trainer.model.weights}
    moving = [p for p in before if "moving" in p]
    learned = [p for p in before if "gamma" in p or "beta" in p or "kernel" in p]
    assert moving and learned
    for path in moving:
        np.testing.assert_array_equal(after[path], before[path])
    for kind in ("gamma", "beta", "kernel"):
        assert any(not np.array_equal(after[p], before[p]) for p in learned if kind in p), kind
    trainer.close()
    # and the default, "batch", moves them
    batch = Trainer(tiny_setting(str(tmp_path / "b"), 3), dataset_fn=synthetic_dataset_fn())
    batch.restore_or_start(resume=False)
    start = {w.path: w.numpy().copy() for w in batch.model.weights if "moving" in w.path}
    batch.run(max_steps=3)
    assert any(not np.array_equal(w.numpy(), start[w.path])
               for w in batch.model.weights if "moving" in w.path)
    batch.close()


def test_best_state_is_chosen_on_the_set_best_on_names(tmp_path):
    """evaluation.best_on: seen ranks evaluations by the training images' AP, so that val
    only reports; the default ranks by val AP."""
    import dataclasses
    import json

    from pose_tf.training.settings import EvaluationSetting

    for best_on, step in (("seen", 4), ("val", 2)):
        scores = iter([{"AP": 0.3, "seen_AP": 0.1}, {"AP": 0.1, "seen_AP": 0.2}])
        setting = tiny_setting(str(tmp_path / best_on), 4, eval_every=2)
        setting = dataclasses.replace(setting, evaluation=EvaluationSetting(
            seen_annotations="train.json", seen_images="train", best_on=best_on))
        trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn(),
                          evaluate_fn=lambda path: next(scores))
        trainer.run()
        trainer.close()
        best = json.loads((tmp_path / best_on / "runs" / "tiny" / "best.json").read_text())
        assert best["step"] == step, best_on


def test_average_is_the_mean_of_the_chosen_checkpoints(tmp_path, capfd):
    """`pose-tf average` writes a .keras whose weights are the mean of the run's
    checkpoints in the step range; a range without checkpoints names the folder (exit 2)."""
    import dataclasses

    import keras
    import tensorflow as tf

    from pose_tf import cli
    from pose_tf.models.factory import build_model

    setting = tiny_setting(str(tmp_path), 6, checkpoint_every=2)
    setting = dataclasses.replace(setting, training=dataclasses.replace(
        setting.training, keep_checkpoints=5, batch_norm="moving"))
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    trainer.run()
    trainer.close()
    folder = tmp_path / "runs" / "tiny" / "checkpoints"
    states = []
    for step in (4, 6):
        model = build_model(setting.model)
        tf.train.Checkpoint(model=model).read(str(folder / f"ckpt-{step}")).expect_partial()
        states.append(model.get_weights())
    setting_file = tmp_path / "tiny.yaml"
    setting_file.write_text(
        "model: {backbone: mobilenet_thin, alpha: 0.25, neck_channels: 8, stages: 2,\n"
        "        stage_channels: 8, stage_convs: 1, refine_kernel: 3}\n"
        "data: {recipe: synthetic.yaml, input_size: [32, 48], batch_size: 4}\n"
        f"training: {{work_dir: {tmp_path / 'runs'}}}\n")
    out = tmp_path / "averaged.keras"
    assert cli.main(["average", "--setting", str(setting_file), "--from-step", "3",
                     "--out", str(out)]) == 0
    assert "mean of 2 checkpoints, steps 4, 6" in capfd.readouterr().out
    averaged = keras.models.load_model(out, compile=False).get_weights()
    for a, b, mean in zip(*states, averaged):
        np.testing.assert_allclose(mean, (a.astype(np.float64) + b) / 2, rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(a, b) for a, b in zip(*states))
    assert cli.main(["average", "--setting", str(setting_file), "--from-step", "7",
                     "--out", str(tmp_path / "none.keras")]) == 2
    err = capfd.readouterr().err
    assert str(folder) in err and "steps there: 2, 4, 6" in err
    assert not (tmp_path / "none.keras").exists()


def test_resume_continues_exactly(tmp_path):
    """6 steps straight == 3 steps, a new process-like Trainer restoring, 3 more steps:
    same step, same learning rate, same data, same weights."""
    straight = Trainer(tiny_setting(str(tmp_path / "a"), 6, checkpoint_every=3),
                       dataset_fn=synthetic_dataset_fn())
    straight.run()
    first = Trainer(tiny_setting(str(tmp_path / "b"), 6, checkpoint_every=3),
                    dataset_fn=synthetic_dataset_fn())
    first.run(max_steps=3)
    lr_at_3 = first.learning_rate()
    second = Trainer(tiny_setting(str(tmp_path / "b"), 6, checkpoint_every=3),
                     dataset_fn=synthetic_dataset_fn())
    with pytest.raises(PoseTfError, match="--resume"):   # never silently start over
        second.restore_or_start(resume=False)
    second.restore_or_start(resume=True)
    assert second.step == 3
    assert second.learning_rate() == lr_at_3
    second.run(resume=True)
    assert second.step == 6
    for a, b in zip(_weights(straight.model), _weights(second.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    log = (tmp_path / "b" / "logs" / "tiny" / "train.log").read_text()
    assert "resumed from" in log and "at step 3" in log
    # The loss falls on the learnable synthetic task.
    losses = [float(x) for x in re.findall(r"step \d+ loss ([0-9.]+)", log)]
    assert losses[-1] < losses[0]


def test_kill_then_resume_continues_from_last_checkpoint(tmp_path):
    """SIGKILL a run mid-way; --resume starts at the last checkpoint's step and lr."""
    log_path = tmp_path / "logs" / "tiny" / "train.log"
    cmd = [sys.executable, str(TOOL), "--work", str(tmp_path), "--steps", "40",
           "--checkpoint-every", "3", "--step-sleep", "0.3"]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        text = log_path.read_text() if log_path.exists() else ""
        if len(re.findall(r"checkpoint \S+ step", text)) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = log_path.read_text()
    saved = re.findall(r"checkpoint \S+ step (\d+) lr (\S+)", killed)
    assert len(saved) >= 2, killed
    last_step, last_lr = saved[-1]
    steps_run = [int(s) for s in re.findall(r"step (\d+) loss", killed)]
    assert max(steps_run) >= int(last_step)

    resumed = subprocess.run(cmd[:-2] + ["--resume"], env=_env(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    line = re.search(r"resumed from \S+ at step (\d+) lr (\S+)", log_path.read_text())
    assert line is not None
    assert (line.group(1), line.group(2)) == (last_step, last_lr)
    assert "STEP 40" in resumed.stdout


# -- distribution ----------------------------------------------------------------------

def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    out = subprocess.run([sys.executable, str(TOOL), "--work", str(tmp_path), "--steps", "3",
                          "--logical-cpus", "2", "--distribute", "auto"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "REPLICAS 2" in out.stdout and "STEP 3" in out.stdout
    log = (tmp_path / "logs" / "tiny" / "train.log").read_text()
    assert "MirroredStrategy" in log
    assert (tmp_path / "runs" / "tiny" / "checkpoints" / "checkpoint").exists()


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_strategy_with_two_local_workers(tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, str(TOOL), "--work", str(tmp_path), "--steps", "3"],
            env=_env(TF_CONFIG=config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (stdout, stderr) in zip(procs, results):
        assert proc.returncode == 0, stderr[-3000:]
        assert "REPLICAS 2" in stdout and "STEP 3" in stdout
    assert "CHIEF 1" in results[0][0] and "CHIEF 0" in results[1][0]
    log = (tmp_path / "logs" / "tiny" / "train.log").read_text()
    assert "MultiWorkerMirroredStrategy" in log
    assert (tmp_path / "runs" / "tiny" / "checkpoints" / "checkpoint").exists()


def test_each_worker_input_pipeline_reads_its_own_shards(tmp_path):
    """The trainer's dataset_fn under a fake 2-pipeline input context (what
    MultiWorkerMirroredStrategy hands each worker): worker 0 gets shard 0, whose people are
    labelled (loss masks on), worker 1 shard 1, whose are not (masks 0); one pipeline alone
    reads both."""
    from dataclasses import replace

    from _train_tools import write_people_shards
    from pose_tf.training.trainer import pipeline_dataset_fn

    write_people_shards(tmp_path / "records", [True, False])
    recipe = tmp_path / "people.yaml"
    recipe.write_text("name: people\nsources: [{name: people, records: records/people-*.tfrecord}]\n")
    setting = tiny_setting(str(tmp_path), 2)
    setting = replace(setting, data=replace(setting.data, recipe=str(recipe), shuffle_buffer=4))
    dataset_fn = pipeline_dataset_fn(setting)

    def labelled(context, batches=4):
        masks = [m["heatmap_mask"].numpy() for _, m in dataset_fn(context).take(batches)]
        return {bool(sample.sum() > 0) for batch in masks for sample in batch}

    workers = [tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i,
                                          num_replicas_in_sync=2) for i in (0, 1)]
    assert labelled(workers[0]) == {True}
    assert labelled(workers[1]) == {False}
    assert labelled(tf.distribute.InputContext()) == {True, False}


# -- refusing to start -----------------------------------------------------------------

def _tree(folder: Path):
    """Every file under `folder` with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("key", ["evaluation.annotations", "evaluation.seen_images",
                                 "distillation.teacher", "training.init_from", "data.recipe"])
def test_train_command_checks_its_inputs_before_writing_anything(tmp_path, capsys, key):
    import shutil

    from _train_tools import RUN_INPUTS, run_setting_file
    from pose_tf.cli import main

    path = run_setting_file(tmp_path)
    missing = tmp_path / RUN_INPUTS[key]
    shutil.rmtree(missing) if missing.is_dir() else missing.unlink()
    before = _tree(tmp_path)
    assert main(["train", "--setting", path]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"pose-tf train: error: {path}: {key}: ")
    if key != "data.recipe":        # the recipe's message names its glob, not one shard
        assert err[0].endswith(f"{missing} not found")
    assert not (tmp_path / "logs").exists() and not (tmp_path / "runs").exists()
    assert _tree(tmp_path) == before


def test_a_refused_run_leaves_logs_and_checkpoints_as_they_were(tmp_path):
    """Checkpoints without --resume, or an init_from file of another network: no new log
    line, no TensorBoard event file, no folder."""
    from dataclasses import replace

    Trainer(tiny_setting(str(tmp_path), 2), dataset_fn=synthetic_dataset_fn()).run()
    before = _tree(tmp_path)
    assert any("tfevents" in name for name in before) and "logs/tiny/train.log" in before
    again = Trainer(tiny_setting(str(tmp_path), 2), dataset_fn=synthetic_dataset_fn())
    with pytest.raises(PoseTfError, match="pass --resume"):
        again.run()
    again.close()
    assert _tree(tmp_path) == before

    donor = tmp_path / "donor.keras"
    again.model.save(donor)
    other = tiny_setting(str(tmp_path / "other"), 2)
    other = replace(other, model=replace(other.model, neck_channels=16),
                    training=replace(other.training, init_from=str(donor)))
    refused = Trainer(other, dataset_fn=synthetic_dataset_fn())
    with pytest.raises(PoseTfError, match="training.init_from: .*different network"):
        refused.run()
    refused.close()
    assert not (tmp_path / "other").exists()


# -- precision -------------------------------------------------------------------------

def test_mixed_bfloat16_trains_with_float32_outputs(tmp_path):
    import keras

    try:
        trainer = Trainer(tiny_setting(str(tmp_path), 2, mixed="mixed_bfloat16"),
                          dataset_fn=synthetic_dataset_fn())
        figures = trainer.run()
        assert math.isfinite(figures["loss"])
        assert trainer.model.get_layer("stage1_conv1_pw").compute_dtype == "bfloat16"
        assert all(o.dtype == "float32" for o in trainer.model.outputs)
    finally:
        keras.mixed_precision.set_global_policy("float32")


# -- real data -------------------------------------------------------------------------

REAL_SETTING = ROOT / "setting" / "shared_smoke.yaml"


def test_two_steps_from_real_records_with_coco_evaluation(tmp_path):
    """The real path: recipe -> pipeline -> train -> .keras -> pose-tf evaluate's code."""
    need(COCO_MINI)
    need(REAL_SETTING)
    import dataclasses

    from pose_tf.core.errors import PoseTfError
    from pose_tf.training.settings import load_setting

    setting = load_setting(REAL_SETTING)
    training = dataclasses.replace(setting.training, steps=2, eval_every=2, log_every=1,
                                   bn_recalibration_batches=2,
                                   work_dir=str(tmp_path / "runs"), logs_dir=str(tmp_path / "logs"))
    setting = dataclasses.replace(setting, training=training,
                                  data=dataclasses.replace(setting.data, batch_size=2))
    try:
        trainer = Trainer(setting)
    except PoseTfError as exc:          # records not converted on this machine
        pytest.skip(f"records not available: {exc}")
    figures = trainer.run()
    trainer.log.close()
    assert math.isfinite(figures["loss"])
    assert 0.0 <= figures["eval_AP"] <= 1.0
    assert (tmp_path / "runs" / setting.name / "best.keras").exists()
    log = (tmp_path / "logs" / setting.name / "train.log").read_text()
    assert "eval step 2 AP" in log
    if setting.evaluation.seen_annotations:     # the training images are scored as well
        assert 0.0 <= figures["eval_seen_AP"] <= 1.0 and "seen_AP" in log
