"""Training: setting -> model + optimizer + tf.data stream -> checkpoints, logs, evaluations.

    pose-tf train --setting setting/X.yaml [--resume]

The pieces: the loss (`losses`), the learning rate and optimizer (`schedules`), the
`tf.distribute` strategy (`distribution`), train.log and TensorBoard (`runlog`); this
module is the loop.

- Checkpoints (tf.train.CheckpointManager) hold the model, the optimizer (its `iterations`
  is the step, so the learning rate follows) and, on single-replica runs, the tf.data
  iterator (the data position), so a killed run continues with `--resume` at the same
  step, learning rate and data. (Distributed iterators cannot be saved: a resumed
  multi-replica run draws a fresh stream seeded by its step.) They go to
  <work_dir>/<experiment>/checkpoints (outside git).
- Evaluation: every `eval_every` steps the model is saved as a .keras file (with batch-norm
  statistics recomputed over `bn_recalibration_batches` training batches, as is the
  final model: pose_tf.models.batchnorm says why) and scored on the COCO val set with `pose_tf.evaluation.coco.evaluate` (exactly `pose-tf evaluate`);
  the best one is kept as <work_dir>/<experiment>/best.keras.
"""
from __future__ import annotations

import faulthandler
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from typing import Callable, Dict, Optional

import keras
import numpy as np
import tensorflow as tf
import yaml

from ..core.config import to_dict
from ..core.errors import PoseTfError
from ..core.keypoints import get_layout
from ..io.files import atomic_output, write_json_atomic
from ..models import build_model
from ..models.heads import seed_new_stage_layers, start_outputs_at_empty_maps
from .distribution import is_chief, make_strategy, strategy_name
from .losses import masked_mse
from .preflight import check_run_inputs
from .runlog import RunLog
from .schedules import learning_rate_schedule, make_optimizer
from .settings import Setting


# --------------------------------------------------------------------------------------
# Data

def pipeline_dataset_fn(setting: Setting) -> Callable:
    """dataset_fn(input_context, start_step) for `distribute_datasets_from_function`.

    start_step > 0 (a resumed run whose data position is not in the checkpoint) re-seeds
    the stream, so it does not replay the first batches of the run.
    """
    data = setting.data

    def dataset_fn(input_context, start_step=0):
        from ..data.pipeline import build_dataset

        per_replica = input_context.get_per_replica_batch_size(data.batch_size)
        seed = setting.training.seed + 104729 * start_step
        pipeline = input_context.input_pipeline_id
        # Each input pipeline (worker) reads its own share of the shards (tf.distribute
        # does not shard a dataset_fn's dataset) and draws its own augmentation stream.
        return build_dataset(
            data.recipe, input_size=tuple(data.input_size), stride=data.targets.stride,
            batch_size=per_replica, training=True, seed=seed + 7919 * pipeline,
            layout=get_layout(setting.model.layout), augment=data.augment, targets=data.targets,
            records_root=data.records_root, shuffle_buffer=data.shuffle_buffer,
            threads=data.threads, input_shard=(input_context.num_input_pipelines, pipeline))

    return dataset_fn


# --------------------------------------------------------------------------------------
# Saving and loading weights

def model_info(setting) -> dict:
    """What inference needs to know about a setting's trained network (stored in the .keras)."""
    data = setting.data
    return {"layout": setting.model.layout, "stride": data.targets.stride,
            "pad_value": float(data.augment.fill_value), "input": "float32 RGB 0..255",
            "training_precision": setting.training.mixed_precision}


def save_model_atomic(model, path: str, info: Optional[dict] = None):
    """Write a .keras file via a temporary name in the same folder, then rename.

    `info` (layout, stride, padding value: what inference must know about the network)
    is stored inside the .keras archive as `pose-tf.json` (pose_tf.inference.runtimes.keras_model).
    """
    from ..inference.runtimes.keras_model import add_model_info

    with atomic_output(path) as tmp:
        model.save(str(tmp))
        if info:
            add_model_info(str(tmp), info)


def _rank(metrics: Dict[str, float], prefix: str = ""):
    """Order of evaluations: AP, then AR and mean OKS (AP is 0 for a long time early in a
    run) of the set `prefix` names ("" val, "seen_" training images); on a tie the later
    one wins (`>=`), having trained longer."""
    return tuple(metrics.get(prefix + k, 0.0) for k in ("AP", "AR", "mean_oks"))


def copy_weights(path: str, model: keras.Model, where: str, matching_layers: bool = False) -> str:
    """Load the .keras file `path` and copy its weights into `model`.

    Same architecture, or with `matching_layers` every layer whose name and weight shapes
    match; a heatmap branch or refinement stage `path` lacks is seeded from its stages
    (`seed_new_stage_layers`), and the rest keep their fresh initialisation. Returns a
    one-line account.
    """
    from ..inference.runtimes.keras_model import KerasNetwork

    if not os.path.isfile(path):
        raise PoseTfError(f"{where}: {path} not found")
    source = KerasNetwork(path).model
    if matching_layers:
        theirs = {layer.name: layer for layer in source.layers}
        copied, fresh = 0, []
        for layer in model.layers:
            weights = layer.get_weights()
            if not weights:
                continue
            donor = theirs.get(layer.name)
            donor_weights = donor.get_weights() if donor is not None else []
            if [w.shape for w in donor_weights] == [w.shape for w in weights]:
                layer.set_weights(donor_weights)
                copied += 1
            else:
                fresh.append(layer.name)
        seeded = seed_new_stage_layers(model, source)
        fresh = [name for name in fresh if name not in seeded]
        branch = f"; new stage layers seeded from its stages: {len(seeded)} layers" if seeded else ""
        return f"copied {copied} layers from {path}{branch}; fresh: {', '.join(fresh) or 'none'}"
    theirs, ours = source.get_weights(), model.get_weights()
    mismatch = [i for i, (a, b) in enumerate(zip(theirs, ours)) if a.shape != b.shape]
    if len(theirs) != len(ours) or mismatch:
        raise PoseTfError(f"{where}: {path} is a different network ({source.name}, "
                          f"{source.count_params():,} parameters) from the setting's "
                          f"({model.name}, {model.count_params():,})")
    model.set_weights(theirs)
    return f"initial weights from {path}"


# --------------------------------------------------------------------------------------
# The trainer

_RECALIBRATION_STREAM = 10 ** 7   # start_step of the BN-recalibration data stream
# second half of the stateless seed [step, HEAD_ERROR_SEED] of distillation.head_error_scale
HEAD_ERROR_SEED = 0x5EED

class Trainer:
    """One experiment's training state; `run()` trains to `training.steps`.

    dataset_fn(input_context) -> tf.data.Dataset of (images, targets) per-replica batches
    (default: the setting's recipe through pose_tf.data.pipeline); evaluate_fn(model_path) ->
    metrics dict (default: COCO evaluation of the setting's val set).
    """

    def __init__(self, setting: Setting, dataset_fn: Optional[Callable] = None,
                 evaluate_fn: Optional[Callable] = None):
        self.setting = setting
        training = setting.training
        # Every input must exist before anything is built or written (pose_tf.training.preflight).
        check_run_inputs(setting, records=dataset_fn is None, evaluation=evaluate_fn is None)
        self.strategy = make_strategy(training.distribute)
        self.chief = is_chief(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if setting.data.batch_size % replicas:
            raise PoseTfError(f"{setting.path}: data.batch_size {setting.data.batch_size} is not "
                              f"divisible by the {replicas} replicas")
        self.run_dir = setting.run_dir
        # training.batch_norm: "moving" normalises with the fixed moving averages
        self.batch_statistics = training.batch_norm == "batch"
        self.log = RunLog(os.path.join(training.logs_dir, setting.name) if self.chief else None)
        self.evaluate_fn = evaluate_fn or (self._coco_evaluate if training.eval_every else None)

        policy = "float32" if training.mixed_precision == "none" else training.mixed_precision
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(training.seed)
        distillation = setting.distillation
        if distillation.teacher and distillation.graph_precision == "bfloat16":
            tf.config.optimizer.set_experimental_options(
                {"auto_mixed_precision_onednn_bfloat16": True})
        with self.strategy.scope():
            self.model = build_model(setting.model)
            self.teacher = None
            self.hint_projections = []
            if distillation.teacher:
                from .distill import Teacher

                try:
                    self.teacher = Teacher(distillation, get_layout(setting.model.layout))
                except PoseTfError as exc:
                    raise PoseTfError(f"{setting.path}: {exc}") from None
            self.train_model = self._training_model()
            self.schedule = learning_rate_schedule(training.lr, training.steps)
            self.optimizer = make_optimizer(training, self.schedule)
            self.optimizer.build(self.train_model.trainable_variables)
        self.dataset_fn = dataset_fn or pipeline_dataset_fn(setting)
        # The tf.data iterator (the exact data position) is saved in checkpoints where TF
        # can: single-replica runs. Distributed iterators are not trackable; there a
        # resumed run draws a fresh stream seeded by the step it resumes at.
        self.data_in_checkpoint = training.checkpoint_data and replicas == 1 and \
            isinstance(self.strategy, type(tf.distribute.get_strategy()))
        self.iterator = self._make_iterator(0) if self.data_in_checkpoint else None
        tracked = {"data": self.iterator} if self.data_in_checkpoint else {}

        # Non-chief workers must save too (variables may be read collectively) but into a
        # scratch folder; only the chief's checkpoints are the run's.
        checkpoint_dir = self.setting.checkpoint_dir if self.chief else \
            tempfile.mkdtemp(prefix="pose-tf-worker-ckpt-")
        if self.hint_projections:
            tracked["hint_projections"] = self.hint_projections
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, **tracked)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, checkpoint_dir, max_to_keep=training.keep_checkpoints,
            step_counter=self.optimizer.iterations)
        self._train_step = self._make_train_step()
        self._stop_signal = None
        self._recalibration_data = None

    def _make_iterator(self, start_step: int):
        dataset = self.strategy.distribute_datasets_from_function(
            lambda context: self.dataset_fn(context, start_step))
        return iter(dataset)

    # -- steps -------------------------------------------------------------------------
    def _training_model(self):
        """The model as trained: its stage outputs, plus one hint feature per hint when
        distillation has hints (projected: through 1x1 projections that are not part of
        the saved model; chained: the hint layers themselves)."""
        distillation = self.setting.distillation
        self.sections = self.head_model = None
        self.hint_strides = []
        if self.teacher is None or distillation.hint_weight <= 0:
            return self.model
        probes = self.teacher(tf.zeros([1, 64, 64, 3]))[1]
        if distillation.hint_mode in ("sectioned", "chained") and \
                distillation.head_weight > 0 and distillation.head_layers:
            # the neck and heads alone, fed at the named trunk layers (same layers)
            inputs = [self.model.get_layer(n).output for n in distillation.head_layers]
            self.head_model = keras.Model(inputs, self.model.outputs, name="heads")
        if distillation.hint_mode == "sectioned":
            self.sections = self._sections(probes)
            return self.model
        outputs = list(self.model.outputs)
        if distillation.hint_mode == "chained":
            self.hint_strides = self._hint_strides(probes)
            outputs += [self.model.get_layer(n).output for n in distillation.hint_layers]
            return keras.Model(self.model.inputs, outputs, name=f"{self.model.name}_distill")
        for index, (name, probe) in enumerate(zip(distillation.hint_layers, probes)):
            try:
                feature = self.model.get_layer(name).output
            except ValueError:
                raise PoseTfError(f"{self.setting.path}: distillation.hint_layers: {name!r} "
                                  f"is not a layer of the model") from None
            projection = keras.layers.Conv2D(int(probe.shape[-1]), 1, dtype="float32",
                                             name=f"hint_projection{index}")
            self.hint_projections.append(projection)
            outputs.append(projection(feature))
        return keras.Model(self.model.inputs, outputs, name=f"{self.model.name}_distill")

    def _sections(self, probes):
        """(chains, strides) of the sectioned hints."""
        from .distill import section_chains

        try:
            chains = section_chains(self.model, self.setting.distillation.hint_layers)
        except PoseTfError as exc:
            raise PoseTfError(f"{self.setting.path}: {exc}") from None
        return chains, self._hint_strides(probes)

    def _hint_strides(self, probes) -> list:
        """Each hint layer's stride, its width checked against the teacher tensor it must
        reproduce (sectioned and chained hints have no projection)."""
        names = self.setting.distillation.hint_layers
        for name in names:
            try:
                self.model.get_layer(name)
            except ValueError:
                raise PoseTfError(f"{self.setting.path}: distillation.hint_layers: {name!r} "
                                  f"is not a layer of the model") from None
        from .distill import probe_layers

        strides = []
        for name, (stride, channels), probe in zip(names, probe_layers(self.model, names), probes):
            if channels != probe.shape[-1]:
                raise PoseTfError(f"{self.setting.path}: distillation.hint_layers: {name!r} has "
                                  f"{channels} channels, its teacher tensor "
                                  f"{probe.shape[-1]} ({self.setting.distillation.hint_mode} "
                                  f"hints need equal widths)")
            strides.append(stride)
        return strides

    def _losses(self, images, targets, outputs):
        """Per-example total [B] and the named [B] parts (label, teacher, hint, last stage)."""
        setting = self.setting
        paf_weight = setting.training.paf_loss_weight
        hints = []
        count = len(self.hint_projections) or len(self.hint_strides)
        if count:
            outputs, hints = outputs[:-count], outputs[-count:]
        label, per_stage = masked_mse(outputs, targets, paf_weight)
        parts = {"loss_last_stage": per_stage[-1]}
        if self.teacher is None:
            return label, parts
        from .distill import hint_loss, labelled_samples, teacher_loss

        distillation = setting.distillation
        teacher_maps, teacher_hints = self.teacher(images)
        where = tf.ones_like(label) if distillation.where == "everywhere" else \
            1.0 - labelled_samples(targets)
        layout = get_layout(setting.model.layout)
        heatmap_terms = dict(num_parts=layout.num_parts, peak_weight=distillation.peak_weight,
                             slope_weight=distillation.slope_weight)
        taught = teacher_loss(outputs, teacher_maps, self.teacher.mask, where,
                              layout.paf_offset, paf_weight, **heatmap_terms)
        total = distillation.label_weight * label + distillation.weight * taught
        parts.update({"loss_labels": label, "loss_teacher": taught})
        fed = None
        if hints and self.hint_strides:
            from .distill import relative_error, section_targets

            fed = section_targets(self.hint_strides, images, teacher_hints, distillation.hint_clip)
            hinted = tf.add_n([relative_error(h, t) for h, t in zip(hints, fed)])
        elif hints:
            hinted = tf.add_n([hint_loss(h, t) for h, t in zip(hints, teacher_hints)])
        elif self.sections:
            from .distill import section_targets, sectioned_hint_losses

            chains, strides = self.sections
            fed = section_targets(strides, images, teacher_hints, distillation.hint_clip)
            hinted = tf.add_n(sectioned_hint_losses(chains, images, fed, self.batch_statistics))
        if self.head_model is not None:
            at_heads = [distillation.hint_layers.index(n) for n in distillation.head_layers]
            inputs = [fed[i] for i in at_heads]
            if distillation.head_error_scale > 0:
                from .distill import features_toward_student

                seed = tf.stack([tf.cast(self.optimizer.iterations, tf.int64),
                                 tf.constant(HEAD_ERROR_SEED, tf.int64)])
                inputs = features_toward_student(inputs, [hints[i] for i in at_heads], seed,
                                                 distillation.head_error_scale)
            headed = teacher_loss(self.head_model(inputs, training=self.batch_statistics), teacher_maps,
                                  self.teacher.mask, tf.ones_like(label),
                                  layout.paf_offset, paf_weight, **heatmap_terms)
            total += distillation.head_weight * headed
            parts["loss_heads"] = headed
        if hints or self.sections:
            total += distillation.hint_weight * hinted
            parts["loss_hint"] = hinted
        return total, parts

    def _make_train_step(self):
        model, optimizer, strategy = self.train_model, self.optimizer, self.strategy
        global_batch = self.setting.data.batch_size

        def replica_step(images, targets):
            with tf.GradientTape() as tape:
                outputs = model(images, training=self.batch_statistics)
                per_example, parts = self._losses(images, targets, outputs)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
                scaled = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled, model.trainable_variables)
            # A non-finite loss stops the step before any weight changes (the error
            # reaches run(), which saves nothing): the checkpoints keep good weights.
            check = tf.debugging.assert_all_finite(loss, "non-finite training loss")
            with tf.control_dependencies([check]):
                gradients = [tf.identity(g) for g in gradients]
            optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            values = {"loss": loss}
            for name, value in parts.items():
                values[name] = tf.nn.compute_average_loss(value, global_batch_size=global_batch)
            return values

        @tf.function
        def train_step(iterator):
            images, targets = next(iterator)
            per_replica = strategy.run(replica_step, args=(images, targets))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                    for k, v in per_replica.items()}

        return train_step

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    def learning_rate(self, step: Optional[int] = None) -> float:
        return float(self.schedule(self.step if step is None else step))

    # -- checkpoints -------------------------------------------------------------------
    def _initial_weights(self):
        """Weights of a fresh run: `training.init_from`'s, else empty output maps."""
        training = self.setting.training
        if not training.init_from or training.init_matching_layers:
            start_outputs_at_empty_maps(self.model, get_layout(self.setting.model.layout))
        if training.init_from:
            self.log.line(copy_weights(training.init_from, self.model,
                                       where=f"{self.setting.path}: training.init_from",
                                       matching_layers=training.init_matching_layers))

    def restore_or_start(self, resume: bool):
        latest = self.manager.latest_checkpoint if self.chief else \
            tf.train.latest_checkpoint(self.setting.checkpoint_dir)
        if latest and not resume:
            raise PoseTfError(f"{self.run_dir}: checkpoints exist; pass --resume to continue "
                              f"or remove the folder to start again")
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            self.log.line(f"resumed from {latest} at step {self.step} "
                          f"lr {self.learning_rate():.6g}")
        else:
            if resume:
                self.log.line(f"--resume: no checkpoint in {self.run_dir}, starting at step 0")
            self._initial_weights()
            self.log.line(f"start {self.setting.name}: {self.model.name}, "
                          f"{self.model.count_params():,} parameters, "
                          f"{self.strategy.num_replicas_in_sync} replica(s) "
                          f"({strategy_name(self.strategy)}), global batch "
                          f"{self.setting.data.batch_size}, {self.setting.training.steps} steps")
            if self.chief and self.log.log_dir:
                os.makedirs(self.run_dir, exist_ok=True)
                with open(os.path.join(self.log.log_dir, "setting.yaml"), "w") as f:
                    yaml.safe_dump(to_dict(self.setting), f, sort_keys=False)

        if self.iterator is None:
            self.iterator = self._make_iterator(self.step)

    def save_checkpoint(self):
        path = self.manager.save(checkpoint_number=self.step)
        if self.chief:
            self.log.line(f"checkpoint {path} step {self.step} lr {self.learning_rate():.6g}")
        return path

    # -- evaluation --------------------------------------------------------------------
    def save_for_inference(self, path: str):
        """Save the model as a .keras file with BN statistics recomputed on training data.

        The live model is untouched (its moving averages are part of the checkpoints and
        of exact resumption): an in-memory copy is recalibrated and saved.
        """
        batches = self.setting.training.bn_recalibration_batches
        if not batches:
            save_model_atomic(self.model, path, model_info(self.setting))
            return
        from ..models.batchnorm import recalibrate_batch_norm

        if self._recalibration_data is None:
            # Its own stream (seeded far from the training one), kept across evaluations.
            dataset = self.dataset_fn(tf.distribute.InputContext(), _RECALIBRATION_STREAM)
            self._recalibration_data = iter(dataset.map(lambda images, targets: images))
        copy = keras.models.clone_model(self.model)
        copy.set_weights(self.model.get_weights())
        recalibrate_batch_norm(copy, (next(self._recalibration_data) for _ in range(batches)))
        save_model_atomic(copy, path, model_info(self.setting))

    def _coco_evaluate(self, model_path: str) -> Dict[str, float]:
        from ..evaluation.coco import evaluate
        from ..inference.estimator import Estimator

        evaluation = self.setting.evaluation
        estimator = Estimator.from_path(model_path, input_size=tuple(evaluation.input_size))
        metrics = evaluate(estimator, evaluation.annotations, evaluation.images, progress=False)
        if evaluation.seen_annotations:
            seen = evaluate(estimator, evaluation.seen_annotations, evaluation.seen_images,
                            progress=False)
            metrics.update({f"seen_{k}": seen[k] for k in ("AP", "AP50", "AR", "detect_rate")})
        return metrics

    def evaluate_now(self) -> Optional[Dict[str, float]]:
        if not self.chief or self.evaluate_fn is None:
            return None
        start = time.time()
        path = os.path.join(self.run_dir, "eval", "model.keras")
        self.save_for_inference(path)
        step = self.step
        try:
            metrics = {k: float(v) for k, v in self.evaluate_fn(path).items()
                       if isinstance(v, (int, float))}
        except Exception as exc:   # a broken evaluation must not end hours of training
            self.log.line(f"eval step {step} failed: {type(exc).__name__}: {exc}")
            return None
        self.log.line(f"eval step {step} " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                      + f" ({time.time() - start:.1f} s)")
        self.log.scalars(step, {f"eval/{k}": v for k, v in metrics.items()})
        best_file = os.path.join(self.run_dir, "best.json")
        best = json.load(open(best_file)) if os.path.exists(best_file) else None
        prefix = "seen_" if self.setting.evaluation.best_on == "seen" else ""
        if best is None or _rank(metrics, prefix) >= _rank(best["metrics"], prefix):
            with atomic_output(os.path.join(self.run_dir, "best.keras")) as tmp:
                shutil.copyfile(path, tmp)
            write_json_atomic(best_file, {"step": step, "metrics": metrics}, indent=2)
            self.log.line(f"new best {prefix}AP {metrics.get(prefix + 'AP', 0.0):.4f} at step {step}")
        return metrics

    # -- the loop ----------------------------------------------------------------------
    def close(self):
        """Release the input pipeline and logs before the interpreter exits: a tf.data
        iterator left to interpreter finalisation can hang the exit of a stopped run."""
        self.log.close()
        self.iterator = None
        self._recalibration_data = None
        self.checkpoint = None
        self.manager = None
        self.dataset_fn = None
        import gc

        gc.collect()

    def _on_signal(self, signum, frame):
        self._stop_signal = signum

    def run(self, resume: bool = False, max_steps: Optional[int] = None) -> Dict[str, float]:
        """Train until `training.steps` (or `max_steps` more steps); returns last figures."""
        training = self.setting.training
        self.restore_or_start(resume)
        end = training.steps if max_steps is None else min(training.steps, self.step + max_steps)
        previous = {}
        if _main_thread():
            previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
            # `kill -USR1 <pid>` prints every thread's stack: a look inside a long run.
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        figures: Dict[str, float] = {}
        window, window_start, last_checkpoint = [], time.time(), time.time()
        progress = _progress(self.step, end)
        try:
            while self.step < end:
                lr = self.learning_rate()
                before = self.step
                try:
                    values = {k: float(v) for k, v in self._train_step(self.iterator).items()}
                except tf.errors.InvalidArgumentError as exc:
                    if "non-finite training loss" not in str(exc):
                        raise
                    raise PoseTfError(
                        f"{self.setting.path}: loss is not finite at step {before + 1}; "
                        f"nothing of that step was applied or saved (latest checkpoint: "
                        f"{self.manager.latest_checkpoint}); lower training.lr.base or check "
                        f"the data") from None
                step = self.step
                window.append(values)
                progress.update(1)
                if step % training.log_every == 0 or step == end:
                    elapsed = time.time() - window_start
                    figures = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                    rate = len(window) * self.setting.data.batch_size / max(elapsed, 1e-9)
                    parts = " ".join(f"{k[5:]} {v:.6f}" for k, v in figures.items() if k != "loss")
                    self.log.line(f"step {step} loss {figures['loss']:.6f} {parts} lr {lr:.6g} "
                                  f"{rate:.2f} img/s")
                    self.log.scalars(step, {**{f"train/{k}": v for k, v in figures.items()},
                                            "train/lr": lr, "train/images_per_s": rate})
                    window, window_start = [], time.time()
                timed_out = time.time() - last_checkpoint > 60 * training.checkpoint_minutes
                if step % training.checkpoint_every == 0 or step == end or timed_out:
                    self.save_checkpoint()
                    last_checkpoint = time.time()
                if training.eval_every and (step % training.eval_every == 0 or step == training.steps):
                    figures.update({f"eval_{k}": v for k, v in (self.evaluate_now() or {}).items()})
                if self._stop_signal is not None:
                    self.save_checkpoint()
                    self.log.line(f"stopped by signal {self._stop_signal} at step {step}; "
                                  f"continue with --resume")
                    break
            if self.step >= training.steps and self.chief:
                self.save_for_inference(os.path.join(self.run_dir, "final.keras"))
                self.log.line(f"done at step {self.step}: {os.path.join(self.run_dir, 'final.keras')}")
        finally:
            progress.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return figures


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _progress(start: int, end: int):
    from tqdm import tqdm

    return tqdm(total=end, initial=start, unit="step", disable=not sys.stderr.isatty(),
                dynamic_ncols=True)


def train(setting: Setting, resume: bool = False, **kwargs) -> Dict[str, float]:
    import logging

    # TF's checkpoint code logs an INFO line per save ("Sharding callback duration")
    # through absl, which forwards to Python logging under the "absl" logger.
    logging.getLogger("absl").setLevel(logging.WARNING)
    trainer = Trainer(setting, **kwargs)
    try:
        return trainer.run(resume=resume)
    finally:
        trainer.close()
