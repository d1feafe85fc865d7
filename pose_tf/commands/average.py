"""`pose-tf average`: one .keras file from the mean weights of a run's checkpoints (SWA)."""

NAME = "average"
HELP = "average the weights of a training run's checkpoints into one .keras file (SWA)"


def add_arguments(p):
    p.add_argument("--setting", required=True, help="the run's experiment file (its network)")
    p.add_argument("--from-step", type=int, required=True, help="first checkpoint step to average")
    p.add_argument("--to-step", type=int, default=None, help="last checkpoint step (default: all)")
    p.add_argument("--checkpoints", default=None,
                   help="folder of the checkpoints (default: the setting's run folder; set "
                        "training.keep_checkpoints high enough to keep those you average)")
    p.add_argument("--out", required=True, help="the .keras file to write")


def run(args):
    from ..core.errors import PoseTfError
    from ..training.averaging import checkpoints_between
    from ..training.settings import load_setting
    from ._model_args import check_output_file

    check_output_file(args.out, "--out")
    if not args.out.endswith(".keras"):
        raise PoseTfError(f"--out {args.out}: must end with .keras")
    setting = load_setting(args.setting)
    folder = args.checkpoints or setting.checkpoint_dir
    last = args.to_step if args.to_step is not None else float("inf")
    chosen = checkpoints_between(folder, args.from_step, last)

    from ..models.factory import build_model   # imports TensorFlow
    from ..training.averaging import average_checkpoints
    from ..training.trainer import model_info, save_model_atomic

    model = average_checkpoints(build_model(setting.model), [prefix for _, prefix in chosen])
    save_model_atomic(model, args.out, model_info(setting))
    print(f"{args.out}: mean of {len(chosen)} checkpoints, steps "
          f"{', '.join(str(step) for step, _ in chosen)}")
    return 0
