"""Where jobs run: in this process, in a local process pool, or on a Ray cluster.

Every executor takes the jobs and yields their `Outcome`s as they finish (any order); the
runner stores them. Torch threads are divided so that N parallel jobs share the cores rather
than each grabbing all of them: a local worker gets max(1, cores // N) threads; a Ray task gets
as many threads as the CPUs it reserves.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .grid import Job
from .job import Outcome, run_job


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    return max(1, (cores or cpu_count()) // max(1, workers))


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    # the BLAS libraries numpy may call read these
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


class LocalExecutor:
    """`workers` processes (spawned, so no forked torch state); 1 = run in this process."""

    def __init__(self, workers: int = 1, threads: int | None = None) -> None:
        if workers < 1:
            raise ConfigError("--workers must be >= 1")
        if threads is not None and threads < 1:
            raise ConfigError("--threads must be >= 1")
        self.workers = workers
        self.threads = threads or threads_per_worker(workers)

    @property
    def name(self) -> str:
        return f"local (workers={self.workers}, torch threads={self.threads} each)"

    @property
    def parallelism(self) -> int:
        return self.workers

    def run(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        if self.workers == 1:
            import torch

            previous = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                for job in jobs:
                    yield run_job(job)
            finally:
                torch.set_num_threads(previous)
            return
        ctx = mp.get_context("spawn")
        pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_set_threads,
                                   initargs=(self.threads,))
        try:
            pending = {pool.submit(run_job, job) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            # interrupted (Ctrl-C, consumer gone): drop queued jobs, do not wait for running ones
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _ray_job(job: Job, threads: int, *blobs: bytes) -> Outcome:
    _set_threads(threads)
    return run_job(job, dict(zip(job.image.files(), blobs, strict=True)))


class RayExecutor:
    """Fan jobs out as Ray tasks; `address` None starts (or joins) a local Ray instance.

    Source files (images, volumes, labels) travel through Ray's object store (one copy per
    file), so cluster nodes need inrcodec installed but not the data set on their disks.
    """

    def __init__(self, address: str | None = None, cpus_per_job: int = 1,
                 gpus_per_job: float = 0.0, init_kwargs: dict[str, Any] | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'inrcodec[ray]' "
                              "(or pip install ray)") from None
        if cpus_per_job < 1:
            raise ConfigError("cpus per Ray job must be >= 1")
        self.address = address
        self.cpus_per_job = cpus_per_job
        self.gpus_per_job = gpus_per_job
        self.init_kwargs = init_kwargs or {}
        self._parallelism = 1

    @property
    def name(self) -> str:
        return f"ray ({self.address or 'local'}, {self.cpus_per_job} CPU/job)"

    @property
    def parallelism(self) -> int:
        return self._parallelism

    def run(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        import ray

        jobs = list(jobs)  # read twice below: the images to ship, then the tasks
        started_here = not ray.is_initialized()
        if started_here:
            kwargs = {"include_dashboard": False, "log_to_driver": False,
                      "ignore_reinit_error": True, **self.init_kwargs}
            if self.address:
                kwargs["address"] = self.address
            ray.init(**kwargs)
        try:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self._parallelism = max(1, cpus // self.cpus_per_job)
            task = ray.remote(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job,
                              max_retries=0)(_ray_job)
            paths = {p for j in jobs for p in j.image.files()}
            sources = {p: ray.put(Path(p).read_bytes()) for p in paths}
            pending = {task.remote(j, self.cpus_per_job, *(sources[p] for p in j.image.files())):
                       j for j in jobs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    job = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - a lost worker fails one job
                        yield Outcome(job.job_id, "failed",
                                      {"error": f"ray: {type(exc).__name__}: {exc}"})
        finally:
            if started_here:
                ray.shutdown()


def make_executor(kind: str, workers: int = 1, address: str | None = None,
                  cpus_per_job: int = 1, threads: int | None = None
                  ) -> LocalExecutor | RayExecutor:
    if kind == "local":
        return LocalExecutor(workers, threads)
    if kind == "ray":
        return RayExecutor(address, cpus_per_job)
    raise ConfigError(f"unknown executor {kind!r} (local or ray)")
