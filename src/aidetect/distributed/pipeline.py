"""`scan`: judge files on a Ray cluster into a folder of Parquet or JSON Lines rows; resumable.

The job is ``read_binary_files`` (paths kept) -> ``map_batches(ScoreBatch)``
on a pool of actors -> ``write_parquet`` / ``write_json``. What happens to a
file, in order:

1. it cannot be decoded or judged: an error row (``error_kind`` ``"image"``
   or ``"detector"``), as in the local engine; the job goes on;
2. its actor dies (out of memory, a crash in native code): Ray restarts the
   actor (always) and retries the batch, up to ``retries`` times;
3. its batch still fails: Ray drops that block and the job goes on; files
   without a row at the end are judged again one per batch, so one file that
   kills its worker cannot take its batch with it;
4. it fails alone too: a ``WorkerCrashed`` error row (``error_kind``
   ``"detector"``) written by the driver, and its path in
   `DistributedScan.crashed`.

With ``resume`` (the default), paths that already have a row in the output
are not read again, so a stopped job continues where it was.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aidetect.distributed.inputs import expand_inputs, is_uri
from aidetect.distributed.runtime import connect, require_ray, run_failure, tolerating_failed_blocks
from aidetect.distributed.schema import FORMATS, done_paths, output_location, write_rows
from aidetect.distributed.scorer import DetectorSpec, ScoreBatch
from aidetect.errors import AidetectError, DistributedError, WorkerCrashed
from aidetect.registry import DEFAULT_DETECTOR
from aidetect.scan import ScanPathError, ScanResult, check_detector

CRASH_MESSAGE = (
    "no result after Ray's retries and a retry on its own: the Ray worker judging this file kept dying "
    "(killed for lack of memory, or a crash in native code)"
)


@dataclass(frozen=True)
class RayJob:
    """How the actors are set up: detector, batch size, pool size and retries."""

    detector: DetectorSpec = DEFAULT_DETECTOR
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    concurrency: int | None = None
    """Actors in the pool; None: one per ``num_cpus_per_worker`` CPUs of the cluster."""
    num_cpus_per_worker: float = 1.0
    retries: int = 3
    """Retries of a batch whose actor died (Ray's ``max_task_retries``); a dead actor is always restarted."""
    ray_remote_args: dict[str, Any] = field(default_factory=dict)
    isolating: bool = False
    """The retry pass: one file per batch and one batch in flight per actor, so that when a file kills its actor
    no other file is waiting on it (tasks queued on a dying actor can run out of retries while it restarts)."""

    @property
    def name(self) -> str:
        """The detector's name in rows the driver writes (a factory's function name)."""
        return self.detector if isinstance(self.detector, str) else getattr(self.detector, "__name__", "detector")

    def pool_size(self, ray: Any) -> int:
        if self.concurrency is not None:
            return self.concurrency
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        return max(1, int(cpus // self.num_cpus_per_worker))


def results_dataset(files: Sequence[str], job: RayJob) -> Any:
    """The lazy Ray Dataset of rows for ``files`` (nothing runs until it is written or iterated)."""
    from ray.data import ActorPoolStrategy

    ray = require_ray()
    schemes = {file.split("://", 1)[0] if is_uri(file) else None for file in files}
    if len(schemes) > 1:
        raise ScanPathError("one distributed scan reads from one file system: local paths or one kind of URI")
    # Reading is I/O: no CPU reserved, so the read tasks run beside a pool that holds every core.
    read = ray.data.read_binary_files(list(files), include_paths=True, num_cpus=0)
    # Ray Data's default is to retry a batch whose actor died forever: a file that kills its worker every time
    # would never let the job end, so retries are bounded. Restarts are not: with a bound, the pool would run
    # out of actors after a few killer files and every later batch would fail with them. Ray 2.51+ calls these
    # keywords deprecated (removed in 2.64, hence the extra's upper bound) but offers no other way to set them.
    remote_args = {"max_restarts": -1, "max_task_retries": job.retries, **job.ray_remote_args}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return read.map_batches(
            ScoreBatch,
            fn_constructor_kwargs={"detector": job.detector, "options": job.options, "scheme": schemes.pop()},
            batch_size=job.batch_size,
            batch_format="numpy",
            compute=ActorPoolStrategy(size=job.pool_size(ray),
                                      max_tasks_in_flight_per_actor=1 if job.isolating else None),
            num_cpus=job.num_cpus_per_worker,
            **remote_args,
        )


@dataclass
class DistributedScan:
    """What a distributed `scan` did: files found, skipped (already in the output), judged, crashed."""

    output: str
    output_format: str
    files: int
    skipped: int
    judged: int
    crashed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.judged / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "format": self.output_format, "files": self.files, "skipped": self.skipped,
                "judged": self.judged, "crashed": list(self.crashed), "seconds": round(self.seconds, 3),
                "images_per_second": round(self.images_per_second, 2)}

    def __str__(self) -> str:
        return (f"{self.judged} of {self.files} files judged into {self.output} ({self.output_format}), "
                f"{self.skipped} already there, {len(self.crashed)} crashed their worker, "
                f"in {self.seconds:.1f} s ({self.images_per_second:.1f} images/s)")


def scan(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    detector: DetectorSpec = DEFAULT_DETECTOR,
    *,
    output: str | os.PathLike[str],
    output_format: str = "parquet",
    options: dict[str, Any] | None = None,
    recursive: bool = False,
    batch_size: int = 16,
    concurrency: int | None = None,
    num_cpus_per_worker: float = 1.0,
    resume: bool = True,
    ray_address: str | None = None,
    retries: int = 3,
    ray_remote_args: dict[str, Any] | None = None,
    progress: bool = False,
) -> DistributedScan:
    """Judge every image under ``paths_or_globs`` on Ray and write one row per file into the folder ``output``.

    ``output`` is a local (or shared) folder or an object-store URI; rows go
    there as Parquet files (``output_format="jsonl"``: JSON Lines), in the
    columns of `aidetect.distributed.schema.arrow_schema`. ``concurrency`` is
    the number of actors, each holding one detector and ``num_cpus_per_worker``
    CPUs (default: as many as the cluster's CPUs allow). ``detector`` is a
    registered name or a picklable function returning a detector. ``ray_address`` is
    passed to ``ray.init`` (``"auto"``, ``"ray://head:10001"``); None joins the
    cluster this process is connected to, or starts a local one.

    With ``resume`` the paths already in ``output`` are skipped; without it an
    ``output`` that holds rows is refused (`aidetect.errors.DistributedError`).
    """
    if output_format not in FORMATS:
        raise ValueError(f"output_format must be one of {sorted(FORMATS)}, got {output_format!r}")
    job = make_job(detector, options, batch_size, concurrency, num_cpus_per_worker, retries, ray_remote_args)
    files = expand_inputs(paths_or_globs, recursive=recursive)
    location = output_location(output)
    connect(ray_address)
    already = done_paths(location, output_format)
    if already and not resume:
        raise DistributedError(f"{location} already holds {len(already)} rows; resume them (resume=True) "
                               "or write to an empty folder")
    todo = [file for file in files if file not in already]
    started = time.perf_counter()
    writer = _writer(location, output_format)
    crashed = judge(todo, job, writer, lambda: done_paths(location, output_format), progress)
    if crashed:
        write_rows(crash_rows(crashed, job.name), location, output_format, f"crashed-{uuid.uuid4().hex[:12]}")
    return DistributedScan(location, output_format, len(files), len(files) - len(todo), len(todo), crashed,
                           time.perf_counter() - started)


def make_job(detector: DetectorSpec, options: dict[str, Any] | None, batch_size: int, concurrency: int | None,
         num_cpus_per_worker: float, retries: int, ray_remote_args: dict[str, Any] | None) -> RayJob:
    """Check the settings and the detector (its packages here, its weights in the first actor) before any work."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if concurrency is not None and concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if num_cpus_per_worker <= 0 or retries < 0:
        raise ValueError("num_cpus_per_worker must be positive and retries at least 0")
    if isinstance(detector, str):
        check_detector(detector)
    return RayJob(detector, dict(options or {}), batch_size, concurrency, num_cpus_per_worker, retries,
                  dict(ray_remote_args or {}))


def _writer(location: str, output_format: str) -> Callable[[Any], None]:
    def write(dataset: Any) -> None:
        # Writing is I/O too: no CPU reserved, so writes never wait behind actors that hold every core (an actor
        # Ray restarts just as its pass ends can keep its CPU until the Ray instance stops).
        if output_format == "parquet":
            dataset.write_parquet(location, ray_remote_args={"num_cpus": 0})
        else:
            dataset.write_json(location, ray_remote_args={"num_cpus": 0})

    return write


def judge(files: Sequence[str], job: RayJob, consume: Callable[[Any], None], done: Callable[[], set[str]],
          progress: bool = False) -> list[str]:
    """Run the job on ``files`` (``consume`` writes or collects its rows), then once more one file per batch for
    the files ``done`` lacks; return the files that still have no row (their worker kept dying)."""
    if not files:
        return []
    with tolerating_failed_blocks(progress):
        _run(consume, results_dataset(files, job))
        finished = done()
        missing = [file for file in files if file not in finished]
        if missing:
            _run(consume, results_dataset(missing, replace(job, batch_size=1, isolating=True)))
            finished = done()
            missing = [file for file in missing if file not in finished]
    return missing


def _run(consume: Callable[[Any], None], dataset: Any) -> None:
    try:
        consume(dataset)
    except AidetectError:
        raise
    except Exception as exc:  # Ray wraps what failed in its own exception types
        raise run_failure(exc) from exc


def crash_rows(paths: Iterable[str], detector: str) -> list[ScanResult]:
    """``WorkerCrashed`` error rows for files that never got a result."""
    return [ScanResult.from_error(path, detector, WorkerCrashed(CRASH_MESSAGE)) for path in paths]
