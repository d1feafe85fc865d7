"""`pose-tf train`: train the network an experiment setting declares (setting/*.yaml)."""

NAME = "train"
HELP = "train a network from TFRecords as declared by a setting file (resumable)"


def add_arguments(p):
    p.add_argument("--setting", required=True, help="experiment file, e.g. setting/default.yaml")
    p.add_argument("--resume", action="store_true",
                   help="continue from the experiment's last checkpoint (same step, learning "
                        "rate and data position)")
    p.add_argument("--steps", type=int, default=None,
                   help="override training.steps (the schedule follows)")
    p.add_argument("--records-root", default=None,
                   help="folder of the TFRecord shards (overrides the recipe's records_root)")


def run(args):
    import dataclasses

    from ..core.errors import PoseTfError
    from ..training.settings import load_setting

    setting = load_setting(args.setting)
    if args.steps is not None:
        if args.steps < 1:
            raise PoseTfError(f"--steps must be >= 1, got {args.steps}")
        setting = dataclasses.replace(
            setting, training=dataclasses.replace(setting.training, steps=args.steps))
    if args.records_root:
        setting = dataclasses.replace(
            setting, data=dataclasses.replace(setting.data, records_root=args.records_root))

    from ..training.trainer import train   # imports TensorFlow

    figures = train(setting, resume=args.resume)
    if figures:
        print(" ".join(f"{k} {v:.6g}" for k, v in figures.items()))
    return 0
