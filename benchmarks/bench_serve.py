"""``aidetect serve`` under load: throughput against in-process ``predict_batch``, latency, failures, memory.

A real ``aidetect serve`` process on 127.0.0.1 (the default detector, one
inference thread per core) takes ``--requests`` uploads of 512x512 JPEGs
from ``--clients`` concurrent clients (keep-alive connections, one image
per request). The same images are judged in this process with
``detector.predict_batch`` (batches of 32, all cores). The two are timed
interleaved, in halves, in one run, so their ratio holds on a noisy shared
machine; the clients run on the same cores as the server, as they would on
one machine. Reported: throughput of both and their ratio, p50/p95/p99
latency, failed requests (the load stays below the queue limit, so there
must be none), and the server's resident memory through the run.

Loopback only, and bounded: ``--requests`` in all and ``--max-seconds`` for
the server part. Images are 2x2 mosaics of ``examples/images`` in eight
orientations (no dataset needed). Writes ``<out>/serve.json`` and
``<out>/serve.md``.

    python benchmarks/bench_serve.py
    python benchmarks/bench_serve.py --requests 200 --batch-images 64     # smoke test
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results"
EXAMPLES = HERE.parent / "examples" / "images"
DETECTOR = "efficientnet"
SIZE = 512


def make_images() -> list[bytes]:
    """Eight distinct 512x512 JPEGs (q90): the four 256 px example images as a 2x2 mosaic, in eight orientations."""
    from PIL import Image

    from aidetect.io import load_image

    tiles = [load_image(path) for path in sorted(EXAMPLES.glob("*.*")) if path.suffix in (".jpg", ".png")][:4]
    mosaic = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])])
    assert mosaic.shape == (SIZE, SIZE, 3), mosaic.shape
    images = []
    for turn in range(8):
        variant = np.rot90(mosaic, turn % 4)
        variant = variant[:, ::-1] if turn >= 4 else variant
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(variant)).save(buffer, "JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


# -- the server ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int, workers: int | None, queue: int) -> subprocess.Popen:
    import aidetect

    env = {**os.environ, "PYTHONPATH": str(Path(aidetect.__file__).parents[1])}
    command = [sys.executable, "-c", "import sys; from aidetect.cli import main; sys.exit(main())", "serve",
               "--port", str(port), "--detector", DETECTOR, "--queue", str(queue), "--log-level", "warning"]
    if workers:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"aidetect serve exited with {process.returncode}")
        try:
            if request("127.0.0.1", port, "GET", "/readyz")[0] == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("aidetect serve was not ready within 180 s")


def request(host: str, port: int, method: str, path: str, body: bytes | None = None,
            connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
    conn = connection or http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "image/jpeg"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if connection is None:
        conn.close()
    return response.status, data


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_server(port: int, images: list[bytes], count: int, clients: int, max_seconds: float) -> dict[str, Any]:
    """``count`` uploads from ``clients`` threads; their latencies, failures and the wall time."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    issued = iter(range(count))
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < deadline:
            with lock:
                index = next(issued, None)
            if index is None:
                break
            started = time.perf_counter()
            try:
                status, body = request("127.0.0.1", port, "POST", "/v1/detect", images[index % len(images)],
                                       connection)
                ok = status == 200 and json.loads(body)["results"][0]["error"] is None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                status, ok = repr(exc), False
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if not ok:
                    failures.append(str(status))
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - started, "latencies": latencies, "failures": failures}


# -- in process ---------------------------------------------------------------------------------------------------


def run_in_process(detectors: list[Any], images: list[bytes], count: int, batch: int = 32) -> float:
    """Seconds to judge ``count`` of the images with ``predict_batch``, ``batch`` at a time, one thread per detector."""
    batches = [[images[i % len(images)] for i in range(first, min(count, first + batch))]
               for first in range(0, count, batch)]

    def judge(detector: Any, share: list[list[bytes]]) -> None:
        for chunk in share:
            detector.predict_batch(chunk, batch_size=batch)

    threads = [threading.Thread(target=judge, args=(detector, batches[k::len(detectors)]))
               for k, detector in enumerate(detectors)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


# -- the run --------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import aidetect
    from aidetect.serve.settings import default_workers

    images = make_images()
    workers = args.workers or default_workers()
    port = free_port()
    server = start_server(port, workers, args.queue)
    try:
        # The library as a user gets it (its backend's threads over every core), and the server's own layout:
        # one single-threaded backend per inference thread.
        baselines = {"default": [aidetect.load(DETECTOR)],
                     "per_core": [aidetect.load(DETECTOR, threads=1) for _ in range(workers)]}
        for detectors in baselines.values():
            for detector in detectors:
                detector.predict(images[0])  # warm, as the server is
        for image in images:  # and one request each, so neither side pays a first-call cost in the timing
            request("127.0.0.1", port, "POST", "/v1/detect", image)
        rss = [rss_mb(server.pid)]
        halves = [args.requests // 2, args.requests - args.requests // 2]
        in_process = {name: 0.0 for name in baselines}
        in_process_cpu = {name: 0.0 for name in baselines}
        server_parts, server_cpu = [], 0.0
        for half in halves:  # interleaved: in-process, server, in-process, server
            for name, detectors in baselines.items():
                cpu_before = time.process_time()
                in_process[name] += run_in_process(detectors, images, args.batch_images // 2)
                in_process_cpu[name] += time.process_time() - cpu_before
            cpu_before = cpu_seconds(server.pid)
            server_parts.append(load_server(port, images, half, args.clients, args.max_seconds / 2))
            server_cpu += cpu_seconds(server.pid) - cpu_before
            rss.append(rss_mb(server.pid))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    latencies = [x for part in server_parts for x in part["latencies"]]
    failures = [x for part in server_parts for x in part["failures"]]
    server_rate = len(latencies) / sum(part["seconds"] for part in server_parts)
    judged_in_process = 2 * (args.batch_images // 2)
    library_rates = {name: judged_in_process / seconds for name, seconds in in_process.items()}
    library_cpu_rates = {name: judged_in_process / seconds for name, seconds in in_process_cpu.items()}
    server_cpu_rate = len(latencies) / server_cpu
    return {
        "date": time.strftime("%Y-%m-%d"), "machine": machine(), "detector": DETECTOR,
        "image": f"{SIZE}x{SIZE} JPEG q90",
        "clients": args.clients, "requests": len(latencies), "requests_asked": args.requests,
        "workers": workers, "queue": args.queue,
        "server_images_per_s": server_rate, "in_process_images_per_s": library_rates,
        "ratio": {name: server_rate / rate for name, rate in library_rates.items()},
        "server_images_per_cpu_s": server_cpu_rate, "in_process_images_per_cpu_s": library_cpu_rates,
        "ratio_cpu": {name: server_cpu_rate / rate for name, rate in library_cpu_rates.items()},
        "failed": len(failures), "failures": failures[:20],
        "latency_ms": {q: percentile(latencies, q) * 1000 for q in (50, 95, 99)},
        "server_rss_mb": rss,
    }


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def markdown(result: dict[str, Any]) -> str:
    latency, rss = result["latency_ms"], result["server_rss_mb"]
    rates, ratios = result["in_process_images_per_s"], result["ratio"]
    cpu_rates, cpu_ratios = result["in_process_images_per_cpu_s"], result["ratio_cpu"]
    cut_short = (f" (of {result['requests_asked']} asked: the time limit ended the run)"
                 if result["requests"] < result["requests_asked"] else "")
    return "\n".join([
        "# Serving benchmark (`aidetect serve`)", "",
        f"{result['date']}, {result['machine']}. `bench_serve.py`: a real `aidetect serve` on 127.0.0.1 "
        f"({result['detector']}, {result['workers']} inference threads, queue {result['queue']}) answering "
        f"{result['requests']} uploads{cut_short} of {result['image']} from {result['clients']} concurrent keep-alive "
        "clients "
        "on the same cores, timed interleaved with in-process `predict_batch` (batches of 32) on the same images: "
        "once as the library comes (one detector, its backend's threads over every core) and once laid out like "
        "the server (one single-threaded detector per core, one Python thread each). Wall-clock throughput on a "
        "busy machine favours whichever side runs more threads (the scheduler shares the cores per thread), so "
        "the CPU time each side spent per image is given too; the server's excludes the load generator's.", "",
        "| measure | value |", "|---|---:|",
        f"| server throughput | {result['server_images_per_s']:.2f} images/s |",
        f"| in-process `predict_batch`, library default | {rates['default']:.2f} images/s |",
        f"| in-process `predict_batch`, one thread per core | {rates['per_core']:.2f} images/s |",
        f"| **server / in-process (default, per core)** | **{ratios['default']:.2f}, {ratios['per_core']:.2f}** |",
        f"| images per CPU-second: server process | {result['server_images_per_cpu_s']:.2f} |",
        f"| images per CPU-second: in process (default, per core) | {cpu_rates['default']:.2f}, "
        f"{cpu_rates['per_core']:.2f} |",
        f"| **server / in-process per CPU-second (default, per core)** | **{cpu_ratios['default']:.2f}, "
        f"{cpu_ratios['per_core']:.2f}** |",
        f"| latency p50 / p95 / p99 | {latency[50]:.0f} / {latency[95]:.0f} / {latency[99]:.0f} ms |",
        f"| failed requests | {result['failed']} of {result['requests']} |",
        f"| server RSS: warm, after each half | {' → '.join(f'{mb:.0f}' for mb in rss)} MB |",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="uploads in all (default: 2000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
    parser.add_argument("--batch-images", type=int, default=256,
                        help="images judged in process by each baseline, for its throughput (default: 256)")
    parser.add_argument("--workers", type=int, help="server inference threads (default: one per core)")
    parser.add_argument("--queue", type=int, default=64, help="server queue (default: 64, above --clients)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="time limit of the server part")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (args.out / "serve.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
