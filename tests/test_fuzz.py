"""Fuzz Pipeline.predict with random arrays and damaged image files, in lists, in a child process.

Every item must get results or its own typed error, in order; the process must end (no hang) and its peak
memory stay bounded. Sizes: DIGITGUARD_FUZZ_ARRAYS (default 2,000) and DIGITGUARD_FUZZ_FILES (default 300);
DIGITGUARD_FUZZ_SEED picks the inputs. Run `python -m tests.test_fuzz` in the repository for the figures alone.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from digitguard.runtime import DigitguardError, Pipeline

from tests.helpers import REPO, SHIPPED
from digitguard.runtime.bench import rss_mb

SAMPLES = SHIPPED / "samples" / "demo.npz"
CHUNK = 250  # items per predict call
FORMATS = (".png", ".jpg", ".webp", ".tiff", ".bmp", ".gif")
MAX_RSS_MB = 1024
ADDRESS_SPACE = 3 << 30  # the child's hard cap, so a decoder that allocates gigabytes fails instead of the machine


def random_array(rng: np.random.Generator):
    """Anything an API caller might pass: any rank, size, dtype and values, NaN and infinities included."""
    shape = tuple(int(n) for n in rng.choice([0, 1, 2, 3, 4, 28, 29, 40, 64], size=rng.integers(1, 6)))
    while np.prod(shape) > 100_000:  # kept small: the inputs' own memory is not what is measured
        shape = shape[1:]
    if rng.random() < 0.03:
        shape = (1, int(rng.integers(100, 3000)))  # a thin strip
    dtype = rng.choice(["uint8", "uint16", "float32", "float64", "int32", "bool", "complex64", "int8"])
    scale = {"uint8": 255, "uint16": 65535, "int32": 300, "int8": 100}.get(dtype, 1.0)
    a = (rng.random(shape) * scale * rng.choice([1, 1.5, -1])).astype(dtype)
    if a.dtype.kind == "f" and a.size and rng.random() < 0.2:
        a.flat[rng.integers(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
    return a


def damaged_file(rng: np.random.Generator, digits: np.ndarray) -> bytes:
    """A real image file (a demo digit as dark ink on paper) truncated, bit-flipped or with header bytes edited."""
    size = int(rng.integers(28, 200))
    image = 255 - cv2.resize(digits[rng.integers(len(digits))], (size, size))
    ext = FORMATS[rng.integers(len(FORMATS))]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if ext == ".gif" else image)
    data = bytearray(buf.tobytes())
    for _ in range(rng.integers(0, 4)):
        damage = rng.integers(3)
        if damage == 0:
            del data[rng.integers(len(data) + 1):]  # truncated
        elif damage == 1 and data:
            for position in rng.integers(len(data), size=rng.integers(1, 9)):
                data[position] ^= 1 << int(rng.integers(8))  # bit flips
        elif data:
            start = int(rng.integers(min(len(data), 64)))  # header bytes edited (sizes, markers, tags)
            data[start:start + 4] = rng.integers(256, size=4, dtype=np.uint8).tobytes()
    return bytes(data)


def check_aligned(names: list, results: list) -> None:
    """Each item, in order, got one result named after it or a run named name[0], name[1]...; nothing else."""
    position = 0
    for name in names:
        if position < len(results) and results[position].source == name:
            position += 1
            continue
        run = 0
        while position < len(results) and results[position].source == f"{name}[{run}]":
            position, run = position + 1, run + 1
        assert run > 0, f"no result for {name}"
    assert position == len(results), "results beyond the items"


def fuzz(n_arrays: int, n_files: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    with np.load(SAMPLES) as data:
        digits = (data["clean"][:, 0] * 255).astype(np.uint8)
    pipeline = Pipeline.load()
    kinds = rng.permutation(["array"] * n_arrays + ["file"] * n_files)
    counts = {"items": len(kinds), "results": 0, "ok": 0, "errors": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for first in range(0, len(kinds), CHUNK):
            items = []
            for i, kind in enumerate(kinds[first:first + CHUNK]):
                if kind == "array":
                    items.append(random_array(rng))
                elif rng.random() < 0.5:  # files as bytes or as paths
                    items.append(damaged_file(rng, digits))
                else:
                    path = Path(folder) / f"{first + i}.img"
                    path.write_bytes(damaged_file(rng, digits))
                    items.append(path)
            names = [str(item) if isinstance(item, Path) else f"item[{i}]" for i, item in enumerate(items)]
            results = pipeline.predict(items)
            check_aligned(names, results)
            for r in results:
                if r.error is not None:
                    assert isinstance(r.error, DigitguardError) and r.label is None, r
                    kind = type(r.error).__name__
                    counts["errors"][kind] = counts["errors"].get(kind, 0) + 1
                elif r.number is not None:  # a still the locator read as a number: each digit has a label
                    assert len(r.number) == len(r.digits) >= 2 and np.isfinite(r.adversarial_score), r
                    assert all(0 <= d.label < 10 and 0 <= d.confidence <= 1 for d in r.digits), r
                    counts["ok"] += 1
                else:
                    assert 0 <= r.label < 10 and abs(sum(r.probs) - 1) < 1e-4 and np.isfinite(r.adversarial_score), r
                    counts["ok"] += 1
            counts["results"] += len(results)
    counts["seconds"] = round(time.perf_counter() - start, 1)
    counts["peak_rss_mb"] = round(rss_mb("VmHWM"))
    return counts


def test_fuzzed_inputs_get_results_or_their_own_typed_errors():
    run = subprocess.run([sys.executable, "-m", "tests.test_fuzz"], capture_output=True, text=True, timeout=3600,
                         cwd=REPO)  # hang guard
    assert run.returncode == 0, run.stderr[-3000:]
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    print(counts)
    assert counts["results"] >= counts["items"] and counts["ok"] > 0 and counts["errors"]
    assert counts["peak_rss_mb"] < MAX_RSS_MB, counts


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    print(json.dumps(fuzz(int(os.environ.get("DIGITGUARD_FUZZ_ARRAYS", 2000)),
                          int(os.environ.get("DIGITGUARD_FUZZ_FILES", 300)),
                          int(os.environ.get("DIGITGUARD_FUZZ_SEED", 0)))))
