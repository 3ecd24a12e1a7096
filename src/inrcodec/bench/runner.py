"""Run a grid: skip what the store already holds, run the rest, store each outcome as it lands.

Resuming needs nothing special: a job is done when its row says so; a job that was running
when the run was killed has no row and simply runs again. Failed jobs are kept (with their
error) and only rerun with `retry_failed`. Two runs of overlapping grids on one store (e.g.
one per core) split the work: each job is claimed as it is handed out (`Store.claim`), and a
job that another run has finished, or holds a live claim on, is skipped when its turn comes.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import TaskProgressColumn

from ..console import progress_bar
from .executors import LocalExecutor, RayExecutor
from .grid import Job
from .store import Store


@dataclass
class RunSummary:
    total: int
    skipped: int
    reused: int = 0  # jobs given a copy of the same encode done under another label
    taken: int = 0  # jobs another run on the store finished before their turn came here
    elsewhere: int = 0  # jobs another live run on the store was running when their turn came
    done: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def pending_jobs(jobs: Sequence[Job], statuses: dict[str, str],
                 retry_failed: bool) -> list[Job]:
    keep = {None, "failed"} if retry_failed else {None}
    return [j for j in jobs if statuses.get(j.job_id) in keep]


def _claimed(todo: Sequence[Job], store: Store, retry_failed: bool, run_id: int,
             taken: list[Job], elsewhere: list[Job]) -> Iterator[Job]:
    """The jobs of `todo`, each looked up again and claimed just before it is handed out:
    one that another run has finished meanwhile goes to `taken`, one that another live run
    holds to `elsewhere`."""
    keep = {None, "failed"} if retry_failed else {None}
    for job in todo:
        if store.status(job.job_id) not in keep:
            taken.append(job)
        elif store.claim(job.job_id, run_id):
            yield job
        else:
            elsewhere.append(job)


class EtaEstimate:
    """Remaining time from the mean duration of each kind of job finished in this run.

    INR jobs take minutes and baselines milliseconds, so one global rate would be useless;
    the estimate is sum over remaining jobs of the mean time of their kind / parallel slots.
    """

    def __init__(self, jobs: Sequence[Job], parallelism: Callable[[], int]) -> None:
        self.remaining: dict[str, int] = {}
        for j in jobs:
            self.remaining[j.kind] = self.remaining.get(j.kind, 0) + 1
        self.seconds: dict[str, list[float]] = {}
        self.parallelism = parallelism  # read late: Ray knows its size once started

    def update(self, kind: str, seconds: float | None) -> None:
        self.remaining[kind] -= 1
        if seconds is not None:
            self.seconds.setdefault(kind, []).append(seconds)

    def text(self) -> str:
        total = 0.0
        for kind, n in self.remaining.items():
            if n == 0:
                continue
            times = self.seconds.get(kind)
            if not times:
                return "ETA ?"
            total += n * sum(times) / len(times)
        total /= max(1, self.parallelism())
        h, rem = divmod(int(total), 3600)
        return f"ETA {h}:{rem // 60:02d}:{rem % 60:02d}"


def run_grid(jobs: Sequence[Job], store: Store, executor: LocalExecutor | RayExecutor, *,
             retry_failed: bool = False, command: str = "", spec: dict[str, Any] | None = None,
             console: Console | None = None, progress: bool = True) -> RunSummary:
    console = console or Console(stderr=True)
    todo = pending_jobs(jobs, store.statuses(), retry_failed)
    summary = RunSummary(total=len(jobs), skipped=len(jobs) - len(todo))
    if not todo:
        console.print(f"all {len(jobs)} jobs already in {store.path}; nothing to do")
        return summary
    rewritten, saved, missing = store.repack_inr_files()
    if rewritten:
        console.print(f"{rewritten} stored .inr files rewritten in the current format "
                      f"({saved} bytes less; their bytes and bpp updated)")
    if missing:
        console.print(f"[yellow]warning:[/] {missing} .inr rows have no file here and do "
                      "not record the current container format: their bytes may count an "
                      "older, larger header")
    summary.reused = store.reuse_encodes(todo)
    if summary.reused:
        console.print(f"{summary.reused} jobs are encodes already done here under another "
                      "label: their rows copied, not run again (`reused_from`)")
        todo = pending_jobs(jobs, store.statuses(), retry_failed)
        if not todo:
            return summary
    run_id = store.start_run(command, spec or {}, socket.gethostname(), executor.name,
                             len(jobs), len(todo))
    console.print(f"{len(todo)} of {len(jobs)} jobs to run ({summary.skipped} already done"
                  f"{f', {summary.reused} copied' if summary.reused else ''}) "
                  f"on {executor.name} -> {store.path}")
    by_id = {j.job_id: j for j in todo}
    t0 = time.perf_counter()
    # the ETA column is the runner's own (per job kind), not rich's
    bar = progress_bar("[bold]bench", TaskProgressColumn(), "{task.fields[eta]}",
                       "{task.fields[last]}", eta=False, console=console, enabled=progress)
    try:
        with bar:
            task = bar.add_task("bench", total=len(jobs),
                                completed=summary.skipped + summary.reused,
                                eta="ETA ?", last="")
            taken: list[Job] = []
            elsewhere: list[Job] = []
            outcomes = executor.run(_claimed(todo, store, retry_failed, run_id, taken,
                                             elsewhere))
            eta = EtaEstimate(todo, lambda: executor.parallelism)

            def count_taken() -> None:  # jobs skipped since the last outcome
                for job in taken[summary.taken:] + elsewhere[summary.elsewhere:]:
                    eta.update(job.kind, None)
                    bar.update(task, advance=1)
                summary.taken, summary.elsewhere = len(taken), len(elsewhere)

            for outcome in outcomes:
                count_taken()
                job = by_id[outcome.job_id]
                store.save(job, outcome, run_id)
                eta.update(job.kind, outcome.row.get("job_seconds"))
                if outcome.status == "done":
                    summary.done += 1
                    last = (f"{job.curve} {job.image.name}: {outcome.row['bpp']:.3f} bpp "
                            f"{outcome.row['psnr']:.2f} dB")
                else:
                    summary.failed += 1
                    err = outcome.row.get("error", "?")
                    summary.errors.append(f"{job.curve} {job.image.name}: {err}")
                    last = f"[red]failed[/red] {job.curve} {job.image.name}"
                    console.print(f"[red]failed[/red] {job.curve} {job.image.name} "
                                  f"{job.rate_dict()}: {err}", highlight=False)
                bar.update(task, advance=1, eta=eta.text(), last=last)
                if progress and not console.is_terminal:  # logs get one line per job instead
                    n = (summary.skipped + summary.reused + summary.taken
                         + summary.elsewhere + summary.done + summary.failed)
                    console.print(f"[{n}/{len(jobs)}] {eta.text()} {last}", highlight=False)
            count_taken()
    finally:
        summary.seconds = time.perf_counter() - t0
        store.release_claims()
        store.finish_run(run_id, summary.done, summary.failed)
    if summary.taken:
        console.print(f"{summary.taken} jobs were finished meanwhile by another run on "
                      f"{store.path}: skipped here")
    if summary.elsewhere:
        console.print(f"{summary.elsewhere} jobs were being run by another run on "
                      f"{store.path}: skipped here (run this again once it ends to redo any "
                      "it leaves unfinished)")
    console.print(f"ran {summary.done + summary.failed} jobs in {summary.seconds:.0f} s: "
                  f"{summary.done} done, {summary.failed} failed")
    return summary
