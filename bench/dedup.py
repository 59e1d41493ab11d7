"""Dedup benchmarks, measured side by side in one run on the same inputs.

1. Near-duplicate search on the same 64-bit hashes: our multi-index hashing vs imagededup's
   ``PHash().find_duplicates(encoding_map=...)`` (its default brute-force Cython search,
   all cores) and vs a numpy brute force; identical pairs required; 10k and 100k hashes.
2. 1M synthetic hashes with planted near-duplicates: wall time, peak memory (VmHWM of a
   fresh child process), all planted pairs found.
3. Hashing throughput on a photo folder: ``hash_bytes`` (decode + 64/256-bit pHash +
   color signature) vs decoding alone, single-threaded and with the stage's thread pool.

imagededup is NOT a project dependency: install it in a separate environment and point
``--imagededup-python`` at it (default: $IMAGEDEDUP_PYTHON or /tmp/benchvenv/bin/python):

    python3.11 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install imagededup

(it pulls torch/torchvision, ~6 GB). Without it, section 1 compares against brute force only.

    .venv/bin/python -m bench.dedup [--sections 1 2 3] [--sizes 10000 100000] [--million N] [--photos DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from pipeline.dedup.handlers import self_pairs
from pipeline.dedup.hashing import hash_bytes

IMAGEDEDUP_SCRIPT = r"""
import json, sys, time
import numpy as np
from imagededup.methods import PHash
codes = np.load(sys.argv[1]); r = int(sys.argv[2])
encoding_map = {str(i): f"{int(c):016x}" for i, c in enumerate(codes)}
t = time.perf_counter()
dups = PHash(verbose=False).find_duplicates(encoding_map=encoding_map, max_distance_threshold=r, scores=True)
elapsed = time.perf_counter() - t
pairs = sorted({(min(int(a), int(b)), max(int(a), int(b))) for a, found in dups.items() for b, _ in found})
np.save(sys.argv[3], np.array(pairs, dtype=np.int64).reshape(-1, 2))
print(json.dumps({"seconds": elapsed}))
"""


def planted_codes(n: int, n_planted: int, r: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random 64-bit codes of which the last ``n_planted`` are copies of earlier ones with
    1..r random bits flipped; returns (codes, planted pairs)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    src = rng.choice(n - n_planted, n_planted, replace=False)
    copies = codes[src].copy()
    flips = rng.integers(1, r + 1, n_planted)
    for k in range(r):
        bit = rng.integers(0, 64, n_planted).astype(np.uint64)
        copies ^= (np.uint64(1) << bit) * (k < flips).astype(np.uint64)
    codes[n - n_planted :] = copies
    return codes, np.stack([src, np.arange(n - n_planted, n)], axis=1)


def brute_pairs(codes: np.ndarray, r: int, block: int = 256) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for start in range(0, len(codes), block):
        d = np.bitwise_count(codes[start : start + block, None] ^ codes[None, :])
        i, j = np.nonzero(d <= r)
        i += start
        keep = i < j
        out.update(zip(i[keep].tolist(), j[keep].tolist()))
    return out


def imagededup_pairs(python: str, codes: np.ndarray, r: int) -> tuple[set[tuple[int, int]], float] | None:
    if not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/codes.npy", codes)
        run = subprocess.run(
            [python, "-c", IMAGEDEDUP_SCRIPT, f"{tmp}/codes.npy", str(r), f"{tmp}/pairs.npy"],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            print(f"  imagededup failed: {run.stderr.strip().splitlines()[-1:]}")
            return None
        seconds = json.loads(run.stdout.strip().splitlines()[-1])["seconds"]
        return set(map(tuple, np.load(f"{tmp}/pairs.npy").tolist())), seconds


def bench_search(sizes: list[int], r: int, python: str) -> None:
    print(f"\n## 1. search, r = {r} (imagededup: {python if Path(python).exists() else 'not installed'})")
    print("| hashes | pairs | MIH s | imagededup s | speed-up | identical | brute force s | speed-up | identical |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        codes, _ = planted_codes(n, n // 10, r, seed=n)
        t = time.perf_counter()
        i, j, _ = self_pairs(codes, r)
        ours_s = time.perf_counter() - t
        ours = set(zip(i.tolist(), j.tolist()))
        theirs = imagededup_pairs(python, codes, r)
        idd = f"{theirs[1]:.2f} | {theirs[1] / ours_s:.1f}x | {theirs[0] == ours}" if theirs else "- | - | -"
        t = time.perf_counter()
        brute = brute_pairs(codes, r)
        brute_s = time.perf_counter() - t
        print(
            f"| {n} | {len(ours)} | {ours_s:.2f} | {idd} | {brute_s:.2f} | {brute_s / ours_s:.1f}x | {brute == ours} |"
        )


MILLION_SCRIPT = r"""
import json, re, sys, time
import numpy as np
from bench.dedup import planted_codes
from pipeline.dedup.handlers import self_pairs
n, r = int(sys.argv[1]), int(sys.argv[2])
codes, planted = planted_codes(n, n // 100, r, seed=1)
t = time.perf_counter()
i, j, d = self_pairs(codes, r)
elapsed = time.perf_counter() - t
found = set(zip(i.tolist(), j.tolist()))
missing = sum((a, b) not in found for a, b in planted.tolist())
# VmHWM: this process's own peak RSS (ru_maxrss would include the parent's, inherited at fork)
hwm = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1))
print(json.dumps({"seconds": elapsed, "pairs": len(found), "planted": len(planted), "missing": missing,
                  "peak_rss_mb": hwm / 1024}))
"""


def bench_million(n: int, r: int) -> None:
    print(f"\n## 2. {n} synthetic hashes, {n // 100} planted near-duplicates (1..{r} bits), r = {r}")
    root = Path(__file__).resolve().parent.parent  # `-c` puts the working directory on sys.path: bench.dedup
    run = subprocess.run(
        [sys.executable, "-c", MILLION_SCRIPT, str(n), str(r)], cwd=root, capture_output=True, text=True
    )
    if run.returncode != 0:
        print(run.stderr)
        return
    res = json.loads(run.stdout.strip().splitlines()[-1])
    print(
        f"search wall {res['seconds']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB (whole process), "
        f"{res['pairs']} pairs, planted found {res['planted'] - res['missing']}/{res['planted']}"
    )


def _decode(data: bytes) -> None:
    from PIL import Image

    Image.open(io.BytesIO(data)).convert("RGB").load()


def bench_hashing(folder: Path, limit: int) -> None:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:limit]
    blobs = [p.read_bytes() for p in files]
    workers = min(8, 2 * (os.cpu_count() or 1))
    print(f"\n## 3. hashing throughput, {len(blobs)} photos from {folder}")
    print("| mode | decode only img/s | hash_bytes img/s | ratio |")
    print("|---|---|---|---|")
    for mode in ("1 thread", f"{workers} threads"):
        rates = []
        for fn in (_decode, lambda b: hash_bytes("x", b)):
            t = time.perf_counter()
            if mode == "1 thread":
                for b in blobs:
                    fn(b)
            else:
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(fn, blobs, chunksize=16))
            rates.append(len(blobs) / (time.perf_counter() - t))
        print(f"| {mode} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[1] / rates[0]:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--max-distance", type=int, default=8)
    ap.add_argument("--million", type=int, default=1_000_000, help="size of the planted set (0: skip)")
    ap.add_argument("--photos", default="../shared/datasets/fashion-products/images")
    ap.add_argument("--photo-limit", type=int, default=6000)
    ap.add_argument("--sections", type=int, nargs="*", default=[1, 2, 3], help="1 search, 2 million, 3 hashing")
    ap.add_argument("--imagededup-python", default=os.environ.get("IMAGEDEDUP_PYTHON", "/tmp/benchvenv/bin/python"))
    args = ap.parse_args()
    print(f"# dedup benchmark ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    if 1 in args.sections:
        bench_search(args.sizes, args.max_distance, args.imagededup_python)
    if 2 in args.sections and args.million:
        bench_million(args.million, args.max_distance)
    if 3 in args.sections:
        if Path(args.photos).is_dir():
            bench_hashing(Path(args.photos), args.photo_limit)
        else:
            print(f"\n## 3. skipped: no photo folder at {args.photos}")


if __name__ == "__main__":
    main()
