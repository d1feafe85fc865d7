"""Tiny training runs for tests: a synthetic, seeded tf.data stream and a tiny network.

Used in-process by tests/test_train.py and as a script for the runs that need their own
process (logical CPU devices, two workers, a SIGKILL):

    python tests/_train_tools.py --work DIR --steps N [--resume] [--logical-cpus 2]
        [--distribute mirrored|multi_worker|none] [--checkpoint-every K] [--step-sleep S]
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SIZE = (32, 48)        # input (height, width): maps 4 x 6
GLOBAL_BATCH = 4


def synthetic_dataset_fn(seed=0):
    """dataset_fn(input_context): deterministic random images and targets per element
    index, so the stream (and its position in a checkpoint) is reproducible."""
    import tensorflow as tf

    def dataset_fn(input_context, start_step=0):
        batch = input_context.get_per_replica_batch_size(GLOBAL_BATCH)
        pipelines = input_context.num_input_pipelines
        h, w = SIZE[0] // 8, SIZE[1] // 8

        def element(index):
            s = tf.stack([index, tf.constant(seed + 1000 * input_context.input_pipeline_id, tf.int64)])
            image = tf.random.stateless_uniform([*SIZE, 3], s, 0.0, 255.0)
            # Targets that depend on the image, so there is something to learn.
            mean = tf.image.resize(tf.reduce_mean(image, -1, keepdims=True), (h, w)) / 255.0
            heatmaps = tf.tile(mean, [1, 1, 18])
            pafs = tf.tile(mean - 0.5, [1, 1, 40])
            keep = tf.cast(tf.random.stateless_uniform([h, w, 18], s + 7) > 0.2, tf.float32)
            return image, {"heatmaps": heatmaps, "pafs": pafs, "heatmap_mask": keep,
                           "paf_mask": tf.ones([h, w, 40])}

        # Without a saved iterator, a resumed run starts after the elements already used.
        start = start_step * GLOBAL_BATCH // pipelines
        return tf.data.Dataset.range(start, 10 ** 9).map(element).batch(batch, drop_remainder=True)

    return dataset_fn


def tiny_setting(work, steps, checkpoint_every=2, distribute="auto", mixed="none", eval_every=0,
                 name="tiny", log_every=1):
    from pose_tf.training.settings import (DataSetting, LearningRate, ModelSetting, Setting,
                                           TrainingSetting)

    return Setting(
        name=name, path=os.path.join(work, "tiny.yaml"),
        model=ModelSetting(backbone="mobilenet_thin", alpha=0.25, neck_channels=8, stages=2,
                           stage_channels=8, stage_convs=1, refine_kernel=3),
        data=DataSetting(recipe="synthetic", input_size=list(SIZE), batch_size=GLOBAL_BATCH),
        training=TrainingSetting(
            steps=steps, lr=LearningRate(schedule="cosine", base=0.01, warmup_steps=2),
            log_every=log_every, checkpoint_every=checkpoint_every, checkpoint_minutes=60,
            eval_every=eval_every, mixed_precision=mixed, distribute=distribute,
            work_dir=os.path.join(work, "runs"), logs_dir=os.path.join(work, "logs")))


# Every input a run can need, relative to the setting file (its folder is the run's root).
RUN_INPUTS = {
    "data.recipe": "records/people-00000-of-00001.tfrecord",
    "evaluation.annotations": "val.json",
    "evaluation.images": "val",
    "evaluation.seen_annotations": "train.json",
    "evaluation.seen_images": "train",
    "distillation.teacher": "teacher.pb",
    "training.init_from": "init.keras",
}

RUN_SETTING = """\
model: {backbone: mobilenet_thin, alpha: 0.25, neck_channels: 8, stages: 1, stage_channels: 8,
        stage_convs: 1, refine_kernel: 3}
data: {recipe: recipe.yaml, input_size: [32, 48], batch_size: 2}
training: {steps: 2, eval_every: 1, init_from: init.keras, work_dir: runs, logs_dir: logs}
evaluation: {annotations: val.json, images: val, seen_annotations: train.json, seen_images: train}
distillation: {teacher: teacher.pb}
"""


def run_setting_file(folder):
    """setting.yaml in `folder` whose every input (RUN_INPUTS) exists, as an empty file or
    folder: enough for the checks a run makes before it starts."""
    folder = str(folder)
    for key, relative in RUN_INPUTS.items():
        path = os.path.join(folder, relative)
        if key.endswith("images"):          # image folders
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").close()
    with open(os.path.join(folder, "recipe.yaml"), "w") as f:
        f.write("name: people\nsources: [{name: people, records: records/people-*-of-*.tfrecord}]\n")
    path = os.path.join(folder, "setting.yaml")
    with open(path, "w") as f:
        f.write(RUN_SETTING)
    return path


def write_people_shards(folder, labelled_by_shard, per_shard=4):
    """One TFRecord shard per entry of `labelled_by_shard`: `per_shard` noise images of one
    person whose joints the source labels (True: loss masks on) or not (False: masks 0).
    Returns the shards' glob."""
    import cv2
    import numpy as np

    from pose_tf.data import records

    count = len(labelled_by_shard)
    for shard, labelled in enumerate(labelled_by_shard):
        encoded = []
        for k in range(per_shard):
            rng = np.random.default_rng(100 * shard + k)
            png = cv2.imencode(".png", rng.integers(0, 255, (64, 80, 3), np.uint8))[1]
            keypoints = np.zeros((1, 17, 3), np.float32)
            keypoints[0, :, 0] = rng.uniform(10, 70, 17)
            keypoints[0, :, 1] = rng.uniform(10, 54, 17)
            keypoints[0, :, 2] = 2
            encoded.append(records.encode(records.Sample(
                image_bytes=png.tobytes(), image_format="png", height=64, width=80,
                image_id=100 * shard + k, filename=f"people{shard}_{k}.png", source="people",
                keypoints=keypoints, bbox=np.float32([[5, 5, 70, 54]]), area=np.float32([3780]),
                track_id=np.int64([-1]), labelled=np.full(17, labelled))))
        records.write_records(records.shard_path(str(folder), "people", shard, count), encoded)
    return records.shard_glob(str(folder), "people")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--logical-cpus", type=int, default=0)
    p.add_argument("--distribute", default="auto")
    p.add_argument("--checkpoint-every", type=int, default=2)
    p.add_argument("--step-sleep", type=float, default=0.0,
                   help="pause after each step, so a test can kill the run mid-way")
    args = p.parse_args(argv)

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    from pose_tf.training.trainer import Trainer

    setting = tiny_setting(args.work, args.steps, args.checkpoint_every, args.distribute)
    trainer = Trainer(setting, dataset_fn=synthetic_dataset_fn())
    if args.step_sleep:
        step = trainer._train_step

        def slow_step(iterator):
            out = step(iterator)
            time.sleep(args.step_sleep)
            return out

        trainer._train_step = slow_step
    figures = trainer.run(resume=args.resume)
    print(f"REPLICAS {trainer.strategy.num_replicas_in_sync} CHIEF {int(trainer.chief)} "
          f"STEP {trainer.step} LOSS {figures.get('loss', float('nan')):.6f}", flush=True)
    trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
