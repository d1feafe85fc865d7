"""The same input pipeline served by tf.data service, so preprocessing spreads over hosts.

A dispatcher hands out the dataset graph; workers (any number, on any hosts that can read
the record files) run it and stream batches to the trainer. Because `build_dataset` is
pure TF ops, its graph serialises to the workers unchanged:

    # on one host                         # on each preprocessing host
    pose-tf data-service dispatcher       pose-tf data-service worker \\
        --port 5050                           --dispatcher grpc://HOST:5050 --port 5051
    # in training
    build_dataset(recipe, ..., service="grpc://HOST:5050")

In "parallel_epochs" mode (the default here) every worker runs its own copy of the
pipeline (with its own random stream), which is what endless, randomly mixed training
data wants. `start_local` runs a dispatcher and workers inside this process (tests,
single-host use).
"""
from __future__ import annotations

from dataclasses import dataclass, field


def distribute(dataset, service: str, *, job_name=None, processing_mode="parallel_epochs"):
    """Route `dataset` through the tf.data service at `service` ("grpc://host:port")."""
    import tensorflow as tf

    if "://" not in service:
        service = f"grpc://{service}"
    return dataset.apply(tf.data.experimental.service.distribute(
        processing_mode=processing_mode, service=service, job_name=job_name))


@dataclass
class LocalService:
    """A dispatcher and its workers running in this process."""

    dispatcher: object
    workers: list = field(default_factory=list)

    @property
    def target(self) -> str:
        return self.dispatcher.target

    def stop(self):
        for worker in self.workers:
            worker.stop()
        self.dispatcher.stop()


def start_dispatcher(port=0, work_dir=None):
    import tensorflow as tf

    config = tf.data.experimental.service.DispatcherConfig(
        port=port, work_dir=work_dir, fault_tolerant_mode=bool(work_dir))
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(dispatcher_address: str, port=0, worker_address=None):
    import tensorflow as tf

    address = dispatcher_address.split("://", 1)[-1]
    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=address, port=port,
        worker_address=worker_address or None)
    return tf.data.experimental.service.WorkerServer(config)


def start_local(num_workers: int = 1) -> LocalService:
    """Dispatcher + `num_workers` workers on localhost, on free ports."""
    dispatcher = start_dispatcher()
    service = LocalService(dispatcher)
    for _ in range(num_workers):
        service.workers.append(start_worker(dispatcher.target))
    return service
