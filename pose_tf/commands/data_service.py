"""`pose-tf data-service dispatcher|worker`: run tf.data service servers for the pipeline.

Start one dispatcher, then workers on the hosts that should do the preprocessing (they
need read access to the record files at the same paths), then train with
`build_dataset(..., service="grpc://DISPATCHER:PORT")`.
"""
from __future__ import annotations

NAME = "data-service"
HELP = "run a tf.data service dispatcher or worker for the training pipeline"


def add_arguments(p):
    p.add_argument("role", choices=("dispatcher", "worker"))
    p.add_argument("--port", type=int, default=5050, help="port to listen on (default 5050)")
    p.add_argument("--dispatcher", help="worker: dispatcher address, e.g. grpc://host:5050")
    p.add_argument("--worker-address", help="worker: host:port the dispatcher should give "
                                            "clients (default: this host's name and --port)")
    p.add_argument("--work-dir", help="dispatcher: folder for its journal (restartable)")


def run(args) -> int:
    from ..core.errors import PoseTfError
    from ..data.service import start_dispatcher, start_worker

    if args.role == "dispatcher":
        server = start_dispatcher(args.port, args.work_dir)
        print(f"dispatcher listening at {server.target}", flush=True)
    else:
        if not args.dispatcher:
            raise PoseTfError("worker needs --dispatcher grpc://HOST:PORT")
        server = start_worker(args.dispatcher, args.port, args.worker_address)
        print(f"worker on port {args.port} serving {args.dispatcher}", flush=True)
    # join() blocks in C++, where the CLI's SIGTERM handler (which unwinds Python code)
    # never gets to run: a server is stopped by the default action, as before.
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    server.join()
    return 0
