"""Speed and memory benchmark of the bundled detectors, on CPU.

Everything compared is measured in one run, interleaved: each repeat times
every case once (in a rotating order, so slow drift of the machine spreads
over all cases), after warm-up calls; a case's figure is the median over the
repeats. Comparisons are quoted as ratios of those medians.

(a) efficientnet: the same weights on ONNX Runtime (fp32, and the int8
    variant) and in PyTorch eager (the ``.pt`` state dict beside the ONNX
    file), with 1 thread (the per-core figure: ``torch.set_num_threads(1)``,
    ONNX ``intra_op_num_threads=1``) and with all cores; batch 1 and 32 at
    input size ``--effnet-size`` (default 224, the size the speed aims are
    stated at; the card's own is smaller). ``raw`` times the network call
    alone on a prepared float32 batch (``session.run`` / ``module(x)``); ``e2e`` times
    ``predict`` / ``predict_batch`` on uint8 images of the input size
    (normalisation, batching, calibration included; decoding excluded).
(b) cnn: its torch module at its input size (128), batch 1 and 32, raw and e2e.
(c) every detector end to end (``predict_batch`` of 32, and ``predict`` of one)
    on 256x256 uint8 images, the size of mixed-v1's files: all cores.
(d) peak RSS of a fresh process that imports aidetect, loads one detector and
    predicts 32 images of 256x256 (``resource.getrusage``, one subprocess per
    detector), with the load and first-prediction times.

Writes ``<out>/speed.json`` and ``<out>/speed.md``.

    python benchmarks/bench_speed.py                 # ~5 minutes on 2 cores
    python benchmarks/bench_speed.py --quick         # smoke test, under a minute
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import run_facts, write_outputs  # the same run facts as the accuracy benchmark

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
INT8 = "efficientnet-int8"
E2E_DETECTORS = ("efficientnet", INT8, "cnn", "forensic-svm", "ensemble")
RSS_DETECTORS = ("efficientnet", INT8, "cnn", "forensic-svm", "ensemble")


# -- timing -----------------------------------------------------------------------------------------


class Case:
    """One thing to time: ``fn()`` processes ``batch`` images."""

    def __init__(self, key: dict[str, Any], batch: int, fn: Callable[[], Any]) -> None:
        self.key, self.batch, self.fn = key, batch, fn
        self.calls = 1
        self.rates: list[float] = []

    def calibrate(self, warmup: int, min_time: float) -> None:
        for _ in range(warmup):
            self.fn()
        start = time.perf_counter()
        self.fn()
        once = max(time.perf_counter() - start, 1e-6)
        self.calls = max(1, math.ceil(min_time / once))

    def measure(self) -> None:
        start = time.perf_counter()
        for _ in range(self.calls):
            self.fn()
        self.rates.append(self.batch * self.calls / (time.perf_counter() - start))

    def record(self) -> dict[str, Any]:
        median = statistics.median(self.rates)
        return {
            **self.key,
            "batch": self.batch,
            "images_per_s": median,
            "ms_per_call": 1000.0 * self.batch / median,
            "ms_per_image": 1000.0 / median,
            "images_per_s_min": min(self.rates),
            "images_per_s_max": max(self.rates),
            "repeats": len(self.rates),
            "calls_per_repeat": self.calls,
        }


def run_interleaved(cases: list[Case], repeats: int, warmup: int, min_time: float) -> list[dict[str, Any]]:
    for case in cases:
        case.calibrate(warmup, min_time)
    for repeat in range(repeats):
        shift = repeat % len(cases)
        for case in cases[shift:] + cases[:shift]:
            case.measure()
    return [case.record() for case in cases]


# -- inputs ---------------------------------------------------------------------------------------------


def images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` RGB uint8 images of ``size x size``: smooth colour fields plus noise (content does not change timing)."""
    rng = np.random.default_rng(seed)
    out = []
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    for _ in range(n):
        base = rng.uniform(0, 255, 3).astype(np.float32)
        field = base * (0.5 + 0.5 * ramp[:, None, None] * ramp[None, :, None])
        noisy = field + rng.normal(0, 12, (size, size, 3)).astype(np.float32)
        out.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def _torch_backed(detector: Any, module: Any) -> Any:
    """``detector`` answering through ``module`` (PyTorch eager) instead of ONNX Runtime: same crops, calibration."""
    import torch

    def raw_logits(self: Any, crops: Any) -> Any:
        with torch.inference_mode():
            return module(torch.from_numpy(self.inputs(crops))).numpy().ravel()

    detector.raw_scores = types.MethodType(raw_logits, detector)
    return detector


# -- (a) efficientnet: ONNX Runtime vs PyTorch, fp32 vs int8 ----------------------------------------------


def bench_efficientnet(threads_list: list[int], args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import aidetect

    card_size = aidetect.load("efficientnet").card_.input_size
    size = args.effnet_size or card_size
    reference = aidetect.load("efficientnet", input_size=size)
    module = reference.torch_module()
    has_int8 = bool(reference.card_.info.get("int8"))
    pictures = images(32, size)
    x1, x32 = reference.inputs(pictures[:1]), reference.inputs(pictures)
    with torch.inference_mode():
        torch_logits = module(torch.from_numpy(x32)).numpy().ravel()
    onnx_logits = reference.session_.run(None, {"input": x32})[0].ravel()
    parity = {"max_abs_logit_diff_onnx_vs_torch": float(np.abs(onnx_logits - torch_logits).max())}

    records: list[dict[str, Any]] = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        backends: dict[str, Any] = {"onnx-fp32": aidetect.load("efficientnet", threads=threads, input_size=size)}
        if has_int8:
            backends["onnx-int8"] = aidetect.load("efficientnet", quantized=True, threads=threads, input_size=size)
        for detector in backends.values():
            detector.card_  # noqa: B018  (load the session now, not inside the timing)
        torch_detector = _torch_backed(aidetect.load("efficientnet", threads=threads, input_size=size), module)
        torch_detector.card_  # noqa: B018
        if has_int8 and "max_abs_logit_diff_int8_vs_fp32" not in parity:
            int8_logits = backends["onnx-int8"].session_.run(None, {"input": x32})[0].ravel()
            parity["max_abs_logit_diff_int8_vs_fp32"] = float(np.abs(int8_logits - onnx_logits).max())

        def forward(x: np.ndarray) -> Callable[[], Any]:
            tensor = torch.from_numpy(x)

            def call() -> Any:
                with torch.inference_mode():
                    return module(tensor)

            return call

        cases = []
        for batch, x in ((1, x1), (32, x32)):
            for name, detector in backends.items():
                session = detector.session_
                cases.append(Case({"detector": "efficientnet", "mode": "raw", "backend": name, "threads": threads},
                                  batch, lambda s=session, x=x: s.run(None, {"input": x})))
            cases.append(Case({"detector": "efficientnet", "mode": "raw", "backend": "torch", "threads": threads},
                              batch, forward(x)))
        for batch in (1, 32):
            for name, detector in [*backends.items(), ("torch", torch_detector)]:
                fn = ((lambda d=detector: d.predict(pictures[0])) if batch == 1
                      else (lambda d=detector: d.predict_batch(pictures, batch_size=32)))
                cases.append(Case({"detector": "efficientnet", "mode": "e2e", "backend": name, "threads": threads},
                                  batch, fn))
        print(f"efficientnet, {threads} thread(s): {len(cases)} cases x {args.repeats} repeats", flush=True)
        records += run_interleaved(cases, args.repeats, args.warmup, args.min_time)
    torch.set_num_threads(os.cpu_count() or 1)
    return {"input_size": size, "card_input_size": card_size, "int8_available": has_int8, "parity": parity,
            "records": records}


def efficientnet_ratios(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ONNX/torch and int8/fp32 speed ratios (>1: the first is faster), per mode, threads and batch."""
    table = {(r["mode"], r["backend"], r["threads"], r["batch"]): r["images_per_s"] for r in records}
    ratios = []
    for (mode, backend, threads, batch), rate in sorted(table.items()):
        pairs = {"onnx-fp32": ("torch", "ONNX fp32 / torch"), "onnx-int8": ("onnx-fp32", "ONNX int8 / ONNX fp32")}
        if backend in pairs:
            other, what = pairs[backend]
            if (mode, other, threads, batch) in table:
                ratios.append({"what": what, "mode": mode, "threads": threads, "batch": batch,
                               "ratio": rate / table[(mode, other, threads, batch)]})
    return ratios


# -- (b) cnn -------------------------------------------------------------------------------------------------


def bench_cnn(threads_list: list[int], args: argparse.Namespace) -> dict[str, Any]:
    import torch

    import aidetect

    detector = aidetect.load("cnn")
    size = detector.card_.input_size
    module = detector.torch_module()
    pictures = images(32, size, seed=1)
    records: list[dict[str, Any]] = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        cases = []
        for batch in (1, 32):
            tensor = torch.from_numpy(detector.inputs(pictures[:batch]))

            def call(t: Any = tensor) -> Any:
                with torch.inference_mode():
                    return module(t)

            cases.append(Case({"detector": "cnn", "mode": "raw", "backend": "torch", "threads": threads}, batch, call))
        cases.append(Case({"detector": "cnn", "mode": "e2e", "backend": "torch", "threads": threads}, 1,
                          lambda: detector.predict(pictures[0])))
        cases.append(Case({"detector": "cnn", "mode": "e2e", "backend": "torch", "threads": threads}, 32,
                          lambda: detector.predict_batch(pictures, batch_size=32)))
        print(f"cnn, {threads} thread(s): {len(cases)} cases x {args.repeats} repeats", flush=True)
        records += run_interleaved(cases, args.repeats, args.warmup, args.min_time)
    torch.set_num_threads(os.cpu_count() or 1)
    return {"input_size": size, "records": records}


# -- (c) every detector end to end at 256 px ------------------------------------------------------------------


def load_named(name: str) -> Any:
    import aidetect

    if name == INT8:
        detector = aidetect.load("efficientnet", quantized=True)
        detector.name = INT8
        return detector
    return aidetect.load(name)


def bench_end_to_end(names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    pictures = images(32, 256, seed=2)
    cases, skipped, crops = [], {}, {}
    for name in names:
        try:
            detector = load_named(name)
            detector.predict(pictures[0])
        except Exception as exc:  # a missing detector is a note in the report, not a crash
            skipped[name] = f"{type(exc).__name__}: {exc}"
            print(f"skip {name}: {skipped[name]}", flush=True)
            continue
        members = getattr(detector, "members_", None)
        crops[name] = ([m.name for m in members] if members is not None
                       else len(detector.crops(pictures[0])))
        cases.append(Case({"detector": name, "mode": "e2e-256", "backend": "default", "threads": os.cpu_count()}, 1,
                          lambda d=detector: d.predict(pictures[0])))
        cases.append(Case({"detector": name, "mode": "e2e-256", "backend": "default", "threads": os.cpu_count()}, 32,
                          lambda d=detector: d.predict_batch(pictures, batch_size=32)))
    print(f"end to end at 256 px: {len(cases)} cases x {args.repeats} repeats", flush=True)
    records = run_interleaved(cases, args.repeats, args.warmup, args.min_time) if cases else []
    return {"image_size": 256, "crops_per_image_or_members": crops, "skipped": skipped, "records": records}


# -- (d) memory -------------------------------------------------------------------------------------------------


def rss_child(name: str) -> None:
    """Run in a fresh process: load ``name``, predict 32 images of 256 px, print peak RSS and times as JSON."""
    import resource

    start = time.perf_counter()
    import aidetect  # noqa: F401

    pictures = images(32, 256, seed=3)
    imported = time.perf_counter()
    result: dict[str, Any] = {"detector": name}
    if name != "baseline":
        detector = load_named(name)
        detector.predict(pictures[0])
        loaded = time.perf_counter()
        detector.predict_batch(pictures, batch_size=32)
        result.update(load_and_first_predict_s=loaded - imported, predict_32_s=time.perf_counter() - loaded)
    result["import_s"] = imported - start
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    result["vm_hwm_mib"] = _vm_hwm_mib()  # the kernel's own per-process high-water mark, as a cross-check
    torch_module = sys.modules.get("torch")
    result["torch_imported"] = torch_module is not None
    print(json.dumps(result))


def _vm_hwm_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def _child_command(name: str) -> list[str]:
    """The command measuring ``name``, started through ``sh`` where there is one.

    Linux carries a process's peak-RSS record (``ru_maxrss``) across ``exec``: a
    child forked from this (large) benchmark process and exec'ing Python would
    report at least this process's peak. ``sh`` forking the measured process
    (the trailing ``exit`` keeps it from exec'ing in place) starts it from a
    small process instead.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", name]
    if os.name == "posix" and Path("/bin/sh").exists():
        return ["/bin/sh", "-c", '"$@"; exit $?', "sh", *command]
    return command


def bench_memory(names: list[str]) -> dict[str, Any]:
    records, skipped = [], {}
    for name in ["baseline", *names]:
        process = subprocess.run(_child_command(name), capture_output=True, text=True, check=False)
        if process.returncode != 0:
            skipped[name] = (process.stderr.strip().splitlines() or ["failed"])[-1]
            print(f"memory: skip {name}: {skipped[name]}", flush=True)
            continue
        record = json.loads(process.stdout.strip().splitlines()[-1])
        print(f"memory: {name}: peak RSS {record['peak_rss_mib']:.0f} MiB", flush=True)
        records.append(record)
    return {"records": records, "skipped": skipped,
            "note": "peak RSS of a fresh process: import aidetect, load the detector, predict 32 images of 256x256"}


# -- markdown -----------------------------------------------------------------------------------------------------


def _rate(records: list[dict[str, Any]], **key: Any) -> float | None:
    for record in records:
        if all(record.get(k) == v for k, v in key.items()):
            return record["images_per_s"]
    return None


def _f(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def to_markdown(data: dict[str, Any]) -> str:
    facts = data["run"]
    machine = facts["machine"]
    lines = [
        "# Speed benchmark",
        "",
        f"Run {facts['date']} on {machine['cpu']} ({machine['cpus_usable']} usable of {machine['cpu_count']} CPUs), "
        f"{machine['platform']}; load average before/after {facts['loadavg_before']} / {facts['loadavg_after']}. "
        f"Median of {data['settings']['repeats']} interleaved repeats (each at least {data['settings']['min_time']} s) "
        "after warm-up; images/s unless stated. Ratios compare medians from this one run.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items() if v) + ".",
        "",
    ]
    effnet = data.get("efficientnet")
    if effnet:
        records, size = effnet["records"], effnet["input_size"]
        backends = ["onnx-fp32", "torch"] + (["onnx-int8"] if effnet["int8_available"] else [])
        lines += [f"## efficientnet at {size}x{size} (its card's default input size: "
                  f"{effnet.get('card_input_size', size)})", "",
                  "`raw`: the network call on a prepared float32 batch; `e2e`: `predict`/`predict_batch` on uint8 "
                  f"{size}x{size} images (one crop each). 1 thread is the per-core figure.", "",
                  "| mode | threads | batch | " + " | ".join(backends) + " | ONNX/torch | int8/fp32 |",
                  "|---|---:|---:|" + "---:|" * (len(backends) + 2)]
        ratios = {(r["what"], r["mode"], r["threads"], r["batch"]): r["ratio"] for r in effnet["ratios"]}
        for mode in ("raw", "e2e"):
            for threads in sorted({r["threads"] for r in records}):
                for batch in (1, 32):
                    rates = [_f(_rate(records, mode=mode, backend=b, threads=threads, batch=batch)) for b in backends]
                    onnx_torch = ratios.get(("ONNX fp32 / torch", mode, threads, batch))
                    int8_fp32 = ratios.get(("ONNX int8 / ONNX fp32", mode, threads, batch))
                    lines.append(f"| {mode} | {threads} | {batch} | " + " | ".join(rates)
                                 + f" | {_f(onnx_torch, 2)}x | {_f(int8_fp32, 2)}x |")
        parity = effnet["parity"]
        lines += ["", "Largest logit difference on the 32-image batch: ONNX fp32 vs torch "
                  f"{parity['max_abs_logit_diff_onnx_vs_torch']:.1e}"
                  + (f"; int8 vs fp32 {parity['max_abs_logit_diff_int8_vs_fp32']:.3f}"
                     if "max_abs_logit_diff_int8_vs_fp32" in parity else "") + ".", ""]
    cnn = data.get("cnn")
    if cnn:
        size = cnn["input_size"]
        lines += [f"## cnn at {size}x{size} (PyTorch)", "", "| mode | threads | batch 1 | batch 32 |",
                  "|---|---:|---:|---:|"]
        for mode in ("raw", "e2e"):
            for threads in sorted({r["threads"] for r in cnn["records"]}):
                lines.append(f"| {mode} | {threads} | "
                             f"{_f(_rate(cnn['records'], mode=mode, threads=threads, batch=1))} | "
                             f"{_f(_rate(cnn['records'], mode=mode, threads=threads, batch=32))} |")
        lines.append("")
    e2e = data.get("end_to_end")
    if e2e:
        lines += ["## Every detector end to end, 256x256 images, all cores", "",
                  "`predict` of one image and `predict_batch` of 32 (uint8 arrays in memory; decoding excluded).", "",
                  "| detector | crops per image (members) | predict, images/s | predict_batch(32), images/s "
                  "| ms/image |",
                  "|---|---|---:|---:|---:|"]
        for name, crops in e2e["crops_per_image_or_members"].items():
            one = _rate(e2e["records"], detector=name, batch=1)
            many = _rate(e2e["records"], detector=name, batch=32)
            shown = ", ".join(crops) if isinstance(crops, list) else str(crops)
            lines.append(f"| {name} | {shown} | {_f(one)} | {_f(many)} | {_f(1000 / many if many else None)} |")
        lines += [f"- `{n}` skipped: {why}" for n, why in e2e["skipped"].items()]
        lines.append("")
    memory = data.get("memory")
    if memory:
        lines += ["## Peak memory", "", memory["note"] + " (`baseline`: import and images only).", "",
                  "| detector | peak RSS (MiB) | VmHWM (MiB) | import (s) | load + first predict (s) | predict 32 (s) "
                  "| torch imported |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in memory["records"]:
            lines.append(f"| {r['detector']} | {r['peak_rss_mib']:.0f} | {_f(r.get('vm_hwm_mib'), 0)} | "
                         f"{r['import_s']:.2f} | "
                         f"{_f(r.get('load_and_first_predict_s'), 2)} | {_f(r.get('predict_32_s'), 2)} | "
                         f"{'yes' if r['torch_imported'] else 'no'} |")
        lines += [f"- `{n}` skipped: {why}" for n, why in memory["skipped"].items()]
        lines.append("")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: benchmarks/results)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved repeats per case (median is reported)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds each timed repeat lasts at least")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 repeats of 0.05 s, 1 warm-up")
    parser.add_argument("--only", nargs="+", choices=("efficientnet", "cnn", "end-to-end", "memory"),
                        help="run only these parts")
    parser.add_argument("--effnet-size", type=int, default=224,
                        help="efficientnet input size for part (a) (default: 224; 0: the model card's)")
    parser.add_argument("--rss-child", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(args.rss_child)
        return 0
    if args.quick:
        args.repeats, args.min_time, args.warmup = 2, 0.05, 1

    parts = set(args.only or ("efficientnet", "cnn", "end-to-end", "memory"))
    cores = os.cpu_count() or 1
    threads_list = [1] if cores == 1 else [1, cores]
    data: dict[str, Any] = {"run": {**run_facts(), "loadavg_before": _loadavg()},
                            "settings": {"repeats": args.repeats, "min_time": args.min_time, "warmup": args.warmup,
                                         "threads": threads_list}}
    notes = {}
    if "efficientnet" in parts:
        try:
            data["efficientnet"] = bench_efficientnet(threads_list, args)
            data["efficientnet"]["ratios"] = efficientnet_ratios(data["efficientnet"]["records"])
        except Exception as exc:
            notes["efficientnet"] = f"{type(exc).__name__}: {exc}"
    if "cnn" in parts:
        try:
            data["cnn"] = bench_cnn(threads_list, args)
        except Exception as exc:
            notes["cnn"] = f"{type(exc).__name__}: {exc}"
    if "end-to-end" in parts:
        data["end_to_end"] = bench_end_to_end(list(E2E_DETECTORS), args)
    if "memory" in parts:
        data["memory"] = bench_memory(list(RSS_DETECTORS))
    data["run"]["loadavg_after"] = _loadavg()
    data["skipped_parts"] = notes
    for part, why in notes.items():
        print(f"skipped {part}: {why}", flush=True)

    markdown = to_markdown(data)
    if notes:
        markdown += "\n" + "\n".join(f"- {part} skipped: {why}" for part, why in notes.items()) + "\n"
    write_outputs(args.out, "speed", data, markdown)
    print(f"wrote {args.out / 'speed.json'} and {args.out / 'speed.md'}")
    return 0


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
