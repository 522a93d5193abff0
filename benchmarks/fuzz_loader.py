"""Fuzz `aidetect.io.load_image` and every bundled detector with mutated images.

    python benchmarks/fuzz_loader.py --count 10000 --detector-count 10000 --out benchmarks/results

Each case is a seed image (PNG, JPEG, GIF, WebP, BMP, TIFF, PPM in odd modes: 1-bit, grey+alpha, palette
with transparency, 16-bit, float, CMYK; odd sizes and aspect ratios down to 1 x 1 and 16 x 3000) mutated
once: bit flips, truncation, forged header dimensions (PNG IHDR with a valid CRC, JPEG SOF, GIF, BMP),
forged PNG chunk lengths, inserted, deleted or repeated spans, or two files spliced. Cases are a pure
function of ``--seed`` and their index, so any finding is reproducible (``--only INDEX``).

Every target (the loader, then each installed detector) runs in its own child process under a
``--limit-gb`` address-space limit (`resource.RLIMIT_AS`, set after the detector's model is loaded, so
the limit covers model and image work together). The child reports each case before and after running it;
a child that dies is a crash pinned on the case it had started, and a fresh child goes on after it. The
outcome of a case is ``ok``, a typed error (an `aidetect.errors.AidetectError`), or an untyped exception
(anything else, including MemoryError), which is what this benchmark exists to find.

Writes ``fuzz.json`` (every non-ok, non-typed case, the slowest cases, peak memory per target) and
``fuzz.md`` (the table for ``results.md``) into ``--out``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import struct
import subprocess
import sys
import time
import warnings
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from bench_accuracy import write_outputs

HERE = Path(__file__).resolve().parent
TARGETS = ("load_image", "efficientnet", "cnn", "forensic-svm", "ensemble")
FORGED_SIDES = (0, 1, 7, 16, 255, 65_535, 65_536, 100_000, 300_000, 2**31 - 1, 2**32 - 1)


# -- seed images --------------------------------------------------------------------------------------------------


def _encode(image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def seed_images() -> list[tuple[str, bytes]]:
    """Valid images of many formats, modes and shapes: what the mutations start from."""
    from PIL import Image

    rng = np.random.default_rng(12345)

    def rgb(height: int, width: int) -> Image.Image:
        return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))

    photo = rgb(96, 128)
    seeds = [
        ("png-rgb", _encode(photo, "PNG")),
        ("png-rgba", _encode(photo.convert("RGBA"), "PNG")),
        ("png-la", _encode(photo.convert("LA"), "PNG")),
        ("png-p-transparency", _encode(photo.convert("P"), "PNG", transparency=0)),
        ("png-1bit", _encode(photo.convert("1"), "PNG")),
        ("png-16bit", _encode(Image.fromarray(rng.integers(0, 65535, (40, 50), dtype=np.uint16)), "PNG")),
        ("png-strip-16x3000", _encode(rgb(16, 3000), "PNG")),
        ("png-column-3000x16", _encode(rgb(3000, 16), "PNG")),
        ("png-1x1", _encode(rgb(1, 1), "PNG")),
        ("png-700x500", _encode(rgb(500, 700), "PNG")),
        ("jpeg-baseline", _encode(photo, "JPEG", quality=90)),
        ("jpeg-progressive", _encode(photo, "JPEG", quality=75, progressive=True)),
        ("jpeg-cmyk", _encode(photo.convert("CMYK"), "JPEG")),
        ("jpeg-grey-17x17", _encode(rgb(17, 17).convert("L"), "JPEG")),
        ("jpeg-exif-rotated", _encode(photo, "JPEG", exif=_exif_orientation(6))),
        ("gif-animated", _animated_gif(rng)),
        ("webp-lossy", _encode(photo, "WEBP", quality=80)),
        ("webp-lossless-rgba", _encode(photo.convert("RGBA"), "WEBP", lossless=True)),
        ("bmp", _encode(photo, "BMP")),
        ("tiff-rgb", _encode(photo, "TIFF")),
        ("tiff-float", _encode(Image.fromarray(rng.random((30, 40), dtype=np.float32)), "TIFF")),
        ("tiff-int32", _encode(Image.fromarray(rng.integers(0, 70000, (30, 40), dtype=np.int32)), "TIFF")),
        ("ppm", _encode(photo, "PPM")),
    ]
    return seeds


def _exif_orientation(value: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _animated_gif(rng: np.random.Generator) -> bytes:
    from PIL import Image

    frames = [Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


# -- mutations ------------------------------------------------------------------------------------------------------


def bit_flips(data: bytearray, rng: np.random.Generator) -> str:
    count = int(rng.integers(1, 33))
    for _ in range(count):
        data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
    return f"{count} bit flips"


def truncate(data: bytearray, rng: np.random.Generator) -> str:
    keep = int(rng.integers(0, len(data)))
    del data[keep:]
    return f"truncated to {keep} bytes"


def forge_dimensions(data: bytearray, rng: np.random.Generator) -> str:
    width, height = (int(rng.choice(FORGED_SIDES)) if rng.random() < 0.7 else int(rng.integers(1, 200_000))
                     for _ in range(2))
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        data[16:24] = struct.pack(">II", width, height)
        if rng.random() < 0.8:  # a valid CRC, so the decoder believes the header
            data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
        return f"PNG IHDR forged to {width}x{height}"
    if data[:2] == b"\xff\xd8":
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            at = data.find(marker)
            if at > 0:
                data[at + 5 : at + 9] = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
                return f"JPEG SOF forged to {width & 0xFFFF}x{height & 0xFFFF}"
    if data[:3] == b"GIF":
        data[6:10] = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        return f"GIF screen forged to {width & 0xFFFF}x{height & 0xFFFF}"
    if data[:2] == b"BM":
        signed_height = -height if rng.random() < 0.3 else height
        data[18:26] = struct.pack("<ii", width & 0x7FFFFFFF, max(-(2**31), min(2**31 - 1, signed_height)))
        return f"BMP header forged to {width}x{signed_height}"
    return bit_flips(data, rng)


def forge_chunk_length(data: bytearray, rng: np.random.Generator) -> str:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return insert_span(data, rng)
    offsets, at = [], 8
    while at + 8 <= len(data):
        offsets.append(at)
        at += 12 + struct.unpack(">I", data[at : at + 4])[0]
    at = offsets[int(rng.integers(len(offsets)))]
    length = int(rng.choice([0, 1, 2**31 - 1, 2**32 - 1, int(rng.integers(0, 2**20))]))
    data[at : at + 4] = struct.pack(">I", length)
    return f"PNG chunk {bytes(data[at + 4 : at + 8])!r} length forged to {length}"


def insert_span(data: bytearray, rng: np.random.Generator) -> str:
    at, size = int(rng.integers(len(data) + 1)), int(rng.integers(1, 4096))
    data[at:at] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return f"{size} random bytes inserted at {at}"


def delete_span(data: bytearray, rng: np.random.Generator) -> str:
    at = int(rng.integers(len(data)))
    size = int(rng.integers(1, max(2, len(data) - at)))
    del data[at : at + size]
    return f"{size} bytes deleted at {at}"


def repeat_span(data: bytearray, rng: np.random.Generator) -> str:
    at = int(rng.integers(len(data)))
    size, times = int(rng.integers(1, 512)), int(rng.integers(2, 64))
    data[at:at] = bytes(data[at : at + size]) * times
    return f"{size}-byte span at {at} repeated {times}x"


MUTATIONS = (bit_flips, truncate, forge_dimensions, forge_dimensions, forge_chunk_length, insert_span,
             delete_span, repeat_span)


def make_case(index: int, seed: int, seeds: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """Case ``index``: a description and the mutated bytes (a pure function of seed and index)."""
    rng = np.random.default_rng([seed, index])
    name, original = seeds[int(rng.integers(len(seeds)))]
    data = bytearray(original)
    if rng.random() < 0.05:  # splice: the head of one file, the tail of another
        other_name, other = seeds[int(rng.integers(len(seeds)))]
        data = bytearray(original[: int(rng.integers(len(original)))] + other[int(rng.integers(len(other))) :])
        return f"{name} spliced with {other_name}", bytes(data)
    mutation = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
    return f"{name}: {mutation(data, rng)}", bytes(data)


# -- the child: one target, a range of cases -------------------------------------------------------------------------


def run_child(target: str, start: int, stop: int, seed: int, limit_bytes: int, deadline: float) -> None:
    """Run cases ``[start, stop)`` against ``target``, one JSON line before and after each (flushed).

    Stops early, with a ``stopped`` line, at the wall-clock time ``deadline`` (``time.time()``).
    """
    from aidetect.errors import AidetectError

    seeds = seed_images()
    if target == "load_image":
        from aidetect.io import load_image as judge
    else:
        import aidetect

        detector = aidetect.load(target)
        detector.predict(np.full((300, 300, 3), 90, dtype=np.uint8))  # models loaded before the limit
        judge = detector.predict
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    emit({"vm_after_load_mb": _vm_size_mb()})
    warnings.simplefilter("ignore")  # Pillow's metadata warnings on damaged files: noise here
    for index in range(start, stop):
        if time.time() > deadline:
            emit({"stopped": index})
            return
        _, data = make_case(index, seed, seeds)
        emit({"start": index})
        began = time.perf_counter()
        try:
            judge(data)
            outcome = "ok"
        except AidetectError as exc:
            outcome = f"typed:{type(exc).__name__}"
        except BaseException as exc:  # finding these is the point
            outcome = f"untyped:{type(exc).__name__}: {str(exc)[:300]}"
        emit({"done": index, "outcome": outcome, "seconds": time.perf_counter() - began,
              "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def _vm_size_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) / 1024


# -- the parent: restart after crashes, collect --------------------------------------------------------------------


def fuzz_target(target: str, count: int, seed: int, limit_bytes: int, budget_s: float) -> dict:
    """Up to ``count`` cases against ``target`` (fewer if ``budget_s`` seconds run out); restarts after crashes."""
    deadline = time.time() + budget_s
    outcomes: Counter[str] = Counter()
    findings, timings, crashes, peaks, vm_loaded = [], [], [], [], []
    seeds = seed_images()
    start = 0
    while start < count:
        command = [sys.executable, __file__, "--child", target, "--start", str(start), "--stop", str(count),
                   "--seed", str(seed), "--limit-bytes", str(limit_bytes), "--deadline", str(deadline)]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_child_env())
        started = None
        for line in child.stdout:  # type: ignore[union-attr]
            record = json.loads(line)
            if "start" in record:
                started = record["start"]
            elif "done" in record:
                started = None
                outcomes[record["outcome"].split(":")[0]] += 1
                timings.append((record["seconds"], record["done"]))
                peaks.append(record["maxrss_mb"])
                if record["outcome"].startswith("untyped"):
                    findings.append({"case": record["done"], "input": make_case(record["done"], seed, seeds)[0],
                                     "outcome": record["outcome"]})
            elif "stopped" in record:
                count = record["stopped"]
            elif "vm_after_load_mb" in record:
                vm_loaded.append(record["vm_after_load_mb"])
        code = child.wait()
        if code == 0:
            break
        if started is None:
            raise RuntimeError(f"{target}: child exited with {code} outside any case")
        outcomes["crash"] += 1
        crashes.append({"case": started, "input": make_case(started, seed, seeds)[0], "exit_code": code})
        start = started + 1
    slowest = sorted(timings, reverse=True)[:5]
    return {
        "target": target, "cases": sum(outcomes.values()), "outcomes": dict(outcomes), "untyped": findings,
        "crashes": crashes,
        "peak_rss_mb": round(max(peaks, default=0.0), 1),
        "vm_after_load_mb": round(max(vm_loaded), 1) if vm_loaded else None,
        "slowest": [{"case": i, "seconds": round(s, 3), "input": make_case(i, seed, seeds)[0]} for s, i in slowest],
        "median_ms": round(1000 * float(np.median([s for s, _ in timings])), 2) if timings else None,
    }


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # one core per child: address space and CPU stay predictable
    return env


def markdown(report: dict) -> str:
    lines = [
        "# Fuzzing the loader and the detectors",
        "",
        f"`benchmarks/fuzz_loader.py`, seed {report['seed']}, {report['limit_gb']:g} GB address-space limit per "
        f"target process, {report['date']} on {report['machine']}. Cases: mutated PNG/JPEG/GIF/WebP/BMP/TIFF/PPM "
        "seeds (bit flips, truncation, forged header sizes and PNG chunk lengths, spans, splices).",
        "",
        "| target | cases | ok | typed errors | untyped | crashes | peak RSS | median | slowest case |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in report["targets"]:
        counts, slowest = result["outcomes"], result["slowest"][0] if result["slowest"] else None
        slow = f"{slowest['seconds']:.2f} s: {slowest['input']}" if slowest else "-"
        lines.append(
            f"| {result['target']} | {result['cases']} | {counts.get('ok', 0)} | {counts.get('typed', 0)} | "
            f"{counts.get('untyped', 0)} | {counts.get('crash', 0)} | {result['peak_rss_mb']:.0f} MB | "
            f"{result['median_ms']} ms | {slow} |"
        )
    findings = [f for result in report["targets"] for f in result["untyped"] + result["crashes"]]
    lines += ["", f"Untyped exceptions and crashes: {len(findings)}."]
    lines += [f"- case {f['case']} ({f['input']}): {f.get('outcome') or 'exit ' + str(f['exit_code'])}"
              for f in findings[:20]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="cases through load_image")
    parser.add_argument("--detector-count", type=int, default=10_000, help="cases through each detector")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-gb", type=float, default=2.0)
    parser.add_argument("--budget-s", type=float, default=float("inf"),
                        help="wall-clock seconds per target: fewer cases when they run out (the report says how many)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--only", type=int, help="print case INDEX's description and write its bytes to stdout")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--limit-bytes", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=float("inf"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.start, args.stop, args.seed, args.limit_bytes, args.deadline)
        return
    if args.only is not None:
        description, data = make_case(args.only, args.seed, seed_images())
        print(description, file=sys.stderr)
        sys.stdout.buffer.write(data)
        return
    from aidetect.registry import get_registry

    limit = int(args.limit_gb * 2**30)
    results = []
    for target in args.targets:
        if target != "load_image" and get_registry().get(target).missing():
            print(f"skipping {target}: not installed", file=sys.stderr)
            continue
        count = args.count if target == "load_image" else args.detector_count
        began = time.perf_counter()
        results.append(fuzz_target(target, count, args.seed, limit, args.budget_s))
        done = results[-1]
        print(f"{target}: {done['cases']} of {count} cases in {time.perf_counter() - began:.0f} s: {done['outcomes']}",
              file=sys.stderr, flush=True)
    import platform

    report = {"seed": args.seed, "limit_gb": args.limit_gb, "date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "targets": results}
    write_outputs(args.out, "fuzz", report, markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
