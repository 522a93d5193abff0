"""The Ray engine against the local process pool, on the same files, detector and number of workers.

In one run, in this order: the local `aidetect.scan.scan` with ``--workers``
processes; `aidetect.distributed.scan` (Parquet output) on a local Ray
instance of ``--workers`` CPUs with as many actors; the same Ray job streamed
back to the driver (``iter_batches``), which times the first result; the local
scan again (the local figure is the mean of its two runs, so drift of a shared
machine falls on both engines). Measured for each:

* throughput: files / seconds from the call to the last row (pool or actor
  start-up and model loading included; ``ray.init`` itself is timed apart),
  and the steady rate over the second half of the files (start-up left out);
* time to first result: from the call to the first row the caller can see;
* memory per worker: peak resident set of each pool process / Ray actor
  (``/proc``, sampled every 0.2 s), and Ray's own processes (raylet, GCS,
  idle workers) at the end.

Comparisons are ratios of figures from this one run. The scaling table in
``ray.md`` is a projection computed from the measured per-core rate, not a
measurement. Writes ``<out>/ray.json`` and ``<out>/ray.md``.

    python benchmarks/bench_ray.py                  # ~3 minutes on 2 idle cores (3,000 files)
    python benchmarks/bench_ray.py --count 40       # smoke test
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mixed-v1" / "manifest.csv"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"
PROJECTED_CORES = (2, 16, 64, 256, 1024)
PROJECTED_IMAGES = 10_000_000


# -- files ------------------------------------------------------------------------------------------


def bench_files(manifest: Path, count: int, scratch: Path) -> tuple[list[str], str]:
    """The first ``count`` files of mixed-v1 (256 px; every split: labels play no part in a speed test),
    else the example images copied under new names."""
    if manifest.is_file():
        with manifest.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        files = [str((manifest.parent / row["path"]).resolve()) for row in rows][:count]
        return files, f"{len(files)} files of mixed-v1 (256 px JPEG/PNG/WebP)"
    examples = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".jpg", ".png"))
    files = []
    for index in range(count):
        source = examples[index % len(examples)]
        target = scratch / "files" / f"{index:05d}{source.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        files.append(str(target))
    return files, f"{count} copies of the example images (mixed-v1 not found at {manifest})"


# -- memory -----------------------------------------------------------------------------------------


def _rss_mib(pid: str) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _processes() -> Iterator[tuple[str, int, str]]:
    """(pid, parent pid, command line) of every process we may read."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError, ValueError):
            continue
        yield pid, parent, command


class PeakRss:
    """Samples the resident set of the processes ``select(pid, parent, cmdline)`` picks, keeping each one's peak."""

    def __init__(self, select: Callable[[str, int, str], bool], interval: float = 0.2) -> None:
        self.select, self.interval = select, interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for pid, parent, command in _processes():
                if self.select(pid, parent, command) and (rss := _rss_mib(pid)) is not None:
                    self.peaks[pid] = max(rss, self.peaks.get(pid, 0.0))

    def summary(self) -> dict[str, Any]:
        peaks = sorted(self.peaks.values())
        return {"processes": len(peaks), "median_peak_mib": round(statistics.median(peaks), 1) if peaks else None,
                "max_peak_mib": round(peaks[-1], 1) if peaks else None}


def ray_system_rss() -> float:
    """Resident set of Ray's own processes now (raylet, GCS, dashboard agents, idle workers), MiB."""
    names = ("raylet", "gcs_server", "ray::IDLE", "dashboard", "log_monitor", "runtime_env", "ray::Core")
    return round(sum(_rss_mib(pid) or 0.0 for pid, _, cmd in _processes() if any(n in cmd for n in names)), 1)


# -- runs -------------------------------------------------------------------------------------------


def run_local(files: list[str], workers: int, batch_size: int) -> dict[str, Any]:
    from aidetect.scan import scan

    me = os.getpid()
    with PeakRss(lambda pid, parent, cmd: parent == me) as memory:
        started = time.perf_counter()
        first = half = None
        errors = 0
        for done, result in enumerate(scan(files, "efficientnet", workers=workers, batch_size=batch_size), 1):
            first = first if first is not None else time.perf_counter() - started
            half = half if half is not None or done < len(files) // 2 else (time.perf_counter() - started, done)
            errors += not result.ok
        seconds = time.perf_counter() - started
    return {"files": len(files), "seconds": round(seconds, 2), "images_per_second": round(len(files) / seconds, 2),
            "second_half_images_per_second": second_half_rate(half, len(files), seconds),
            "first_result_s": round(first or seconds, 2), "errors": errors, "memory_per_worker": memory.summary()}


def second_half_rate(half: tuple[float, int] | None, total: int, seconds: float) -> float | None:
    """Files per second after half of them were done: the steady rate, start-up and warm-up left out."""
    if half is None or seconds <= half[0]:
        return None
    return round((total - half[1]) / (seconds - half[0]), 2)


def is_actor(pid: str, parent: int, command: str) -> bool:
    return command.startswith("ray::MapWorker")


def run_ray_scan(files: list[str], workers: int, batch_size: int, output: Path) -> dict[str, Any]:
    from aidetect.distributed import scan

    with PeakRss(is_actor) as memory:
        started = time.perf_counter()
        report = scan(files, "efficientnet", output=output, batch_size=batch_size, concurrency=workers)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "images_per_second": round(len(files) / seconds, 2),
            "judged": report.judged, "crashed": len(report.crashed), "memory_per_worker": memory.summary()}


def run_ray_stream(files: list[str], workers: int, batch_size: int) -> dict[str, Any]:
    from aidetect.distributed.pipeline import RayJob, results_dataset
    from aidetect.distributed.runtime import tolerating_failed_blocks

    job = RayJob("efficientnet", batch_size=batch_size, concurrency=workers)
    with PeakRss(is_actor) as memory, tolerating_failed_blocks(progress=False):
        started = time.perf_counter()
        first, half, rows = None, None, 0
        for batch in results_dataset(files, job).iter_batches(batch_size=None, batch_format="pyarrow"):
            first = first if first is not None else time.perf_counter() - started
            rows += batch.num_rows
            half = half if half is not None or rows < len(files) // 2 else (time.perf_counter() - started, rows)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "images_per_second": round(rows / seconds, 2),
            "second_half_images_per_second": second_half_rate(half, rows, seconds),
            "first_result_s": round(first or seconds, 2), "rows": rows, "memory_per_worker": memory.summary()}


# -- report -----------------------------------------------------------------------------------------


def projection(per_core_rate: float) -> list[dict[str, Any]]:
    """Images/s and hours for `PROJECTED_IMAGES` at each core count, IF the rate per core held (linear)."""
    return [{"cores": cores, "images_per_second": round(per_core_rate * cores, 1),
             "hours_for_10M": round(PROJECTED_IMAGES / (per_core_rate * cores) / 3600, 2)}
            for cores in PROJECTED_CORES]


def markdown(data: dict[str, Any]) -> str:
    local, scan, stream = data["local"], data["ray_scan"], data["ray_stream"]
    ratios = data["ratios"]
    lines = [
        "# Ray engine vs the local process pool",
        "",
        f"{data['files_note']}; detector `efficientnet`; {data['workers']} workers (processes / actors) of one CPU "
        f"each, batch {data['batch_size']}; {data['machine']}. Load average before / after: "
        f"{data['load_before']} / {data['load_after']}. Measured {data['date']}, all in one run; Ray's workers at "
        "the driver's niceness (`RAY_worker_niceness=0`), like the pool's processes.",
        "",
        "| | images/s, call to last row | images/s, second half | time to first result | peak RSS per worker "
        "(median / max) |",
        "|---|---:|---:|---:|---:|",
        f"| local pool (`aidetect scan --workers {data['workers']}`), mean of 2 runs | {local['images_per_second']} | "
        f"{local['second_half_images_per_second']} | {local['first_result_s']} s | {_memory(local)} |",
        f"| Ray, `aidetect.distributed.scan` -> Parquet | {scan['images_per_second']} | - | - | {_memory(scan)} |",
        f"| Ray, streamed to the driver (`iter_batches`) | {stream['images_per_second']} | "
        f"{stream['second_half_images_per_second']} | {stream['first_result_s']} s | {_memory(stream)} |",
        "",
        f"- Throughput, Ray (Parquet) / local: **{ratios['throughput_scan_vs_local']}** "
        f"(goal: at least 0.85); streamed / local: {ratios['throughput_stream_vs_local']}; steady rate (second "
        f"half of the files, start-up left out), streamed / local: **{ratios['steady_stream_vs_local']}**.",
        f"- Time to first result, Ray / local: {ratios['first_result_stream_vs_local']}.",
        f"- Memory per worker, Ray actor / pool process (median peaks): {ratios['memory_actor_vs_process']}.",
        f"- Starting the local Ray instance (`ray.init`) took {data['ray_init_s']} s, not counted above; "
        f"Ray's own processes held {data['ray_system_rss_mib']} MiB at the end.",
        "",
        "## Projection (simulated from the measured per-core rate, not a measurement)",
        "",
        f"Per-core rate: {data['per_core_rate']} images/s (Ray's steady streamed rate / {data['workers']} cores). "
        "If that rate held on every core (linear scaling: reads from the object store, the driver's file "
        "listing and the writes keep up, which Ray Data's streaming executor is built for but this run did not "
        "test), a cluster would judge:",
        "",
        "| cores | images/s | hours for 10 million images |",
        "|---:|---:|---:|",
        *(f"| {row['cores']} | {row['images_per_second']} | {row['hours_for_10M']} |" for row in data["projection"]),
        "",
    ]
    return "\n".join(lines)


def _memory(run: dict[str, Any]) -> str:
    memory = run["memory_per_worker"]
    return f"{memory['median_peak_mib']} / {memory['max_peak_mib']} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--count", type=int, default=3000,
                        help="files to scan (default: 3000, so that start-up is not most of the run)")
    parser.add_argument("--workers", type=int, default=2, help="pool processes and Ray actors (default: 2)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as scratch:
        files, note = bench_files(args.manifest, args.count, Path(scratch))
        load_before = [round(x, 2) for x in os.getloadavg()]
        local_runs = [run_local(files, args.workers, args.batch_size)]
        # Ray starts its workers 15 steps nicer than the driver by default: on a shared machine the actors would
        # then get less CPU than the pool's processes, which keep this process's niceness. Same niceness for both.
        os.environ.setdefault("RAY_worker_niceness", "0")
        started = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        ray_init = time.perf_counter() - started
        try:
            ray_scan = run_ray_scan(files, args.workers, args.batch_size, Path(scratch) / "rows")
            ray_stream = run_ray_stream(files, args.workers, args.batch_size)
            system_rss = ray_system_rss()
        finally:
            ray.shutdown()
        local_runs.append(run_local(files, args.workers, args.batch_size))
        load_after = [round(x, 2) for x in os.getloadavg()]

    local = mean_run(local_runs)
    steady = ray_stream["second_half_images_per_second"] or ray_stream["images_per_second"]
    per_core = steady / args.workers
    data = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"ray {ray.__version__}",
        "files_note": note, "files": len(files), "workers": args.workers, "batch_size": args.batch_size,
        "load_before": load_before, "load_after": load_after, "ray_init_s": round(ray_init, 2),
        "ray_system_rss_mib": system_rss, "local": local, "local_runs": local_runs,
        "ray_scan": ray_scan, "ray_stream": ray_stream,
        "ratios": {
            "throughput_scan_vs_local": round(ray_scan["images_per_second"] / local["images_per_second"], 3),
            "throughput_stream_vs_local": round(ray_stream["images_per_second"] / local["images_per_second"], 3),
            "first_result_stream_vs_local": round(ray_stream["first_result_s"] / local["first_result_s"], 3),
            "steady_stream_vs_local": _ratio(ray_stream["second_half_images_per_second"],
                                             local["second_half_images_per_second"]),
            "memory_actor_vs_process": _ratio(ray_scan["memory_per_worker"]["median_peak_mib"],
                                              local["memory_per_worker"]["median_peak_mib"]),
        },
        "per_core_rate": round(per_core, 2), "projection": projection(per_core),
        "projection_note": "simulated from the measured per-core rate (linear scaling assumed), not measured",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ray.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (args.out / "ray.md").write_text(markdown(data), encoding="utf-8")
    print(markdown(data))


def mean_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The local figure: the mean of its runs before and after the Ray runs."""
    seconds = statistics.mean(run["seconds"] for run in runs)
    memory = [run["memory_per_worker"]["median_peak_mib"] for run in runs if run["memory_per_worker"]["processes"]]
    files = runs[0]["files"]
    halves = [run["second_half_images_per_second"] for run in runs if run["second_half_images_per_second"]]
    return {"seconds": round(seconds, 2), "images_per_second": round(files / seconds, 2),
            "second_half_images_per_second": round(statistics.mean(halves), 2) if halves else None,
            "first_result_s": round(statistics.mean(run["first_result_s"] for run in runs), 2),
            "memory_per_worker": {"median_peak_mib": round(statistics.mean(memory), 1) if memory else None,
                                  "max_peak_mib": max((run["memory_per_worker"]["max_peak_mib"] or 0) for run in runs)}}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


if __name__ == "__main__":
    sys.exit(main())
