#!/usr/bin/env python
"""Is a network int8-friendly? Per-layer quantisation noise and AP, ours against the peer.

For each model (the shipped default model; the peer graph with its batch-norm statistics
fixed, as `pose-tf export --bn-statistics` does) we convert to ONNX and quantise with
pose_tf.export.onnx_export.quantize_int8 (Q/DQ, per-channel int8 weights, min/max
calibration on coco_mini train2017), once with 8-bit and once with 16-bit activations,
after the preparation `pose-tf export` applies to our networks (pose_tf.export.int8_weights;
the unprepared W8A8 is the reference row "w8a8-raw"), then in one run:
  SQNR      signal-to-quantisation-noise ratio (dB) of every tensor the network passes
            on (pre-activation tensors excluded), quantised model against the float model
            it was quantised from (column "against"), on 3
            coco_mini val images (onnxruntime's qdq_loss_debug): at the output maps (what
            the grouping sees) and the median over the network's tensors
  AP        COCO AP on coco_mini val2017 (and with --seen on train2017) of the float,
            W8A8 and W8A16 models through the same estimator and grouping
  latency   network only, batch 1 at 368x432, median of --repeats calls, 2 threads

    python bench/int8_sensitivity.py [--models default,peer-fixed-bn] [--seen] [--json out.json]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import SHARED, data_dir, peer_graph  # noqa: E402
from pose_tf.commands._model_args import DEFAULT_MODEL  # noqa: E402

INPUT_SIZE = (368, 432)


def models(names, shared: Path, calibration: Path, count: int, work: Path):
    from pose_tf.export.batch_statistics import write_fixed_graph

    for name in names:
        if name == "default":
            yield name, DEFAULT_MODEL, "pose_tf/resources/default_model.keras"
        elif name == "peer-fixed-bn":
            graph = peer_graph(shared)
            out = work / "peer_fixed_bn.pb"
            used = write_fixed_graph(graph, calibration, out, INPUT_SIZE, count)
            yield name, out, f"peer graph, batch-norm statistics fixed on {used} train2017 images"
        else:
            yield Path(name).stem, Path(name), name


def onnx_variants(path: Path, calibration, work: Path):
    """ONNX files of the model at `path`, each with the float file its SQNR is measured
    against: fp32; our Keras networks also as `export` prepares them for int8
    (pose_tf.export.int8_weights: batch norms folded, channel ranges equalised, kernels
    rounded with bias correction) in float ("ready") and the naive W8A8 of the
    unprepared network ("w8a8-raw", what export shipped before); then W8A8 and W8A16 of
    what export quantises."""
    from pose_tf.export.int8_weights import int8_ready
    from pose_tf.export.onnx_export import convert_onnx, quantize_int8, save_onnx
    from pose_tf.export.source import load_source
    from pose_tf.inference.artefact import ArtefactInfo

    source = load_source(path)
    ready_source = int8_ready(source, calibration)
    fp32 = convert_onnx(source, INPUT_SIZE)
    built = {"fp32": (fp32, None)}
    ready, reference = fp32, "fp32"
    if ready_source is not source:
        ready, reference = convert_onnx(ready_source, INPUT_SIZE), "ready"
        built["ready"] = (ready, None)
        built["w8a8-raw"] = (quantize_int8(fp32, calibration, symmetric=False), "fp32")
    built["w8a8"] = (quantize_int8(ready, calibration, symmetric=False), reference)
    built["w8a16"] = (quantize_int8(ready, calibration, activation_bits=16), reference)
    files = {}
    for label, (model, against) in built.items():
        info = ArtefactInfo(format="onnx", layout=source.layout.name, input_size=INPUT_SIZE,
                            precision="int8" if against else "fp32", source=path.name)
        files[label] = (work / f"{label}.onnx", against)
        save_onnx(model, files[label][0], info.to_json())
    return files


ACTIVATIONS = ("Relu", "Clip", "LeakyRelu")


def used_tensors(model_file: Path):
    """Tensors the network passes on as they are: every node output except those feeding
    an activation (a pre-activation tensor is quantised to the activation's range, so its
    negative part is clipped on purpose and its "error" means nothing)."""
    import onnx

    graph = onnx.load(str(model_file)).graph
    feeds_activation = {name for node in graph.node if node.op_type in ACTIVATIONS
                        for name in node.input[:1]}
    return {out for node in graph.node for out in node.output} - feeds_activation


def sqnr_profile(float_file: Path, quantised_file: Path, probes, work: Path):
    """(median over the tensors the network uses, at the output maps) SQNR in dB."""
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations,
                                                         compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    from pose_tf.export.onnx_export import INPUT_NAME, OUTPUT_NAME

    augmented = {}
    for key, file in (("float", float_file), ("int8", quantised_file)):
        augmented[key] = str(work / f"{key}_all_tensors.onnx")
        modify_model_output_intermediate_tensors(str(file), augmented[key])
    feeds = lambda: [{INPUT_NAME: batch} for batch in probes]   # noqa: E731
    matching = create_activation_matching(collect_activations(augmented["int8"], feeds()),
                                          collect_activations(augmented["float"], feeds()))
    used = used_tensors(float_file)
    errors = {name: e["xmodel_err"] for name, e in compute_activation_error(matching).items()
              if name in used and "xmodel_err" in e and np.isfinite(e["xmodel_err"])}
    return float(np.median(list(errors.values()))), float(errors.get(OUTPUT_NAME, np.nan))


def latency_ms(network, batch, repeats: int) -> float:
    network(batch)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        network(batch)
        times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times))


def bench_model(name, path, args, work: Path):
    from pose_tf.evaluation.coco import evaluate
    from pose_tf.export.calibration import calibration_batches
    from pose_tf.inference.estimator import Estimator
    from pose_tf.inference.runtimes import load_network

    calibration = calibration_batches(args.calibration, INPUT_SIZE, args.calibration_count)
    files = onnx_variants(path, calibration, work)
    probes = calibration_batches(args.images, INPUT_SIZE, 3)
    rows = {}
    for label, (file, against) in files.items():
        network = load_network(str(file))
        row = {"latency_ms": latency_ms(network, probes[0], args.repeats)}
        row["AP"] = evaluate(Estimator(network, input_size=INPUT_SIZE), args.annotations,
                             args.images, progress=False)["AP"]
        if args.seen:
            row["AP_seen"] = evaluate(Estimator(network, input_size=INPUT_SIZE),
                                      args.seen_annotations, args.seen_images, progress=False)["AP"]
        if against:
            row["sqnr_against"] = against
            row["sqnr_median_db"], row["sqnr_maps_db"] = sqnr_profile(files[against][0], file,
                                                                      probes, work)
        rows[label] = row
        print(f"  {name} {label}: {row}", flush=True)
    return rows


def print_table(results):
    print(f"\n{'model':<15} {'variant':<8} {'ms':>6} {'AP':>6} {'AP seen':>7} "
          f"{'SQNR maps':>10} {'median':>7}  (dB, against)")
    for name, result in results.items():
        for label, r in result["variants"].items():
            seen = f"{r['AP_seen']:7.3f}" if "AP_seen" in r else f"{'-':>7}"
            sqnr = (f"{r['sqnr_maps_db']:10.1f} {r['sqnr_median_db']:7.1f}  {r['sqnr_against']}"
                    if "sqnr_maps_db" in r else f"{'-':>10} {'-':>7}")
            print(f"{name:<15} {label:<8} {r['latency_ms']:6.1f} {r['AP']:6.3f} {seen} {sqnr}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shared", type=Path, default=SHARED)
    p.add_argument("--models", default="default,peer-fixed-bn",
                   help="comma list: default, peer-fixed-bn, or model paths")
    p.add_argument("--calibration-count", type=int, default=50)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seen", action="store_true", help="also score AP on coco_mini train2017")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    coco = data_dir(args.shared) / "coco_mini"
    args.annotations = coco / "annotations" / "person_keypoints_val2017.json"
    args.images, args.calibration = coco / "val2017", coco / "train2017"
    args.seen_annotations = coco / "annotations" / "person_keypoints_train2017.json"
    args.seen_images = coco / "train2017"
    if not args.images.is_dir():
        sys.exit(f"coco_mini not found under {data_dir(args.shared)}")
    os.environ["POSE_TF_NUM_THREADS"] = str(args.threads)

    results = {}
    with tempfile.TemporaryDirectory(prefix="pose-tf-bench-int8-") as tmp:
        for name, path, note in models(args.models.split(","), args.shared, args.calibration,
                                       args.calibration_count, Path(tmp)):
            work = Path(tmp) / name
            work.mkdir(parents=True, exist_ok=True)
            print(f"== {name}: {note}", flush=True)
            results[name] = {"model": note, "variants": bench_model(name, path, args, work)}
    print_table(results)
    if args.json:
        from pose_tf.io.files import write_bytes_atomic

        write_bytes_atomic(args.json, json.dumps(results, indent=2).encode())
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
