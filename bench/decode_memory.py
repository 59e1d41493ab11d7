"""Peak memory of decoding hostile images (issue 18 item 6): small files, many pixels.

Inputs, written once: ``--count`` PNGs of ``--side``² (the issue's case: 7000² PNGs of
~200 KB, over the 25 MP cap), and ``--count`` images of ``--under-side``² under the cap
(PNG RGB, PNG RGBA, baseline and progressive JPEG, in turn). Each stage's real function runs
over one set in a fresh child process per arm, on the stage's threads:

- scrape: ``scrapers.images.inspect`` (sniff, header, verifying decode) on ``--threads``
  threads, as the media pipeline runs it on Scrapy's reactor thread pool;
- dedup: ``pipeline.dedup.hashing.hash_many`` (its own pool, ``--threads`` workers);
- embed: ``pipeline.imageio.inference_dataset`` from a file lake (the tag and embed stages'
  input), one image a batch so that tf.data decodes ``--threads`` batches at once.

Arms: ``plain`` is the gate as it was before: a full decode then conversions at full size,
the 50 MP cap, no budget (the old ``decode_opened``/``load``, reproduced below and swapped in);
``reduce`` is today's gate with an unlimited budget (draft/reduce alone); ``gate`` is today's
gate with ``--budget-mb`` (``VITRINE_DECODE_MEMORY_MB``). Printed: the child's peak RSS
(``VmHWM``: on Linux ``ru_maxrss`` keeps the parent's resident size at fork across ``exec``,
so it never reads below this script's own size, printed beside it), the part of the peak above
the RSS before decoding began, the gate's peak reservation, and gate/plain ratios.

    nice -n 10 .venv/bin/python -m bench.decode_memory [--side 7000] [--under-side 5000] [--count 6]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.support.images import large_png

ARMS = ("plain", "reduce", "gate")
STAGES = ("scrape", "dedup", "embed")
OLD_MAX_PIXELS = 50_000_000


def write_inputs(root: Path, side: int, under: int, count: int) -> dict[str, Path]:
    """The two sets of images, as files: ``over`` (PNGs over the cap) and ``under``."""
    from PIL import Image

    over_dir, under_dir = root / "over", root / "under"
    over_dir.mkdir()
    under_dir.mkdir()
    for i in range(count):
        (over_dir / f"{i}.png").write_bytes(large_png(side, side))
    # a photo-like JPEG body: smooth noise, upscaled (the encoder needs the full image once, here)
    small = np.random.default_rng(0).integers(0, 255, (max(under // 10, 8),) * 2 + (3,), dtype=np.uint8)
    photo = Image.fromarray(small).resize((under, under), Image.Resampling.BILINEAR)
    for i in range(count):
        kind = i % 4
        if kind < 2:
            (under_dir / f"{i}.png").write_bytes(large_png(under, under, mode="RGBA" if kind else "RGB"))
        else:
            buf = io.BytesIO()
            photo.save(buf, "JPEG", quality=85, progressive=kind == 3)
            (under_dir / f"{i}.jpg").write_bytes(buf.getvalue())
    return {"over": over_dir, "under": under_dir}


def _plain_gate() -> None:
    """Swap in the gate as it was before draft/reduce and the budget (a plain full decode)."""
    from PIL import Image, ImageOps

    from pipeline import imagegate
    from scrapers import images

    def decode_opened(img: Image.Image, size: int, *, exif: bool = False) -> Image.Image:
        if img.format == "JPEG":
            img.draft("RGB", (size, size))  # the old gate drafted JPEGs too (hashing: 128 px)
        imagegate._load(img)
        if exif:
            img = ImageOps.exif_transpose(img)
        return imagegate.to_rgb(img)

    def verify(img: Image.Image) -> None:
        imagegate._load(img)

    imagegate.MAX_PIXELS = OLD_MAX_PIXELS
    imagegate.decode_opened = decode_opened
    images.verify = verify


def _status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, in MB, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(arm: str, stage: str, folder: Path, threads: int) -> dict:
    """Run one stage over ``folder`` in this process; peak RSS and what was accepted."""
    from pipeline import imagegate
    from pipeline.imagegate import ImageRejected

    if arm == "plain":
        _plain_gate()
    from pipeline.dedup.hashing import hash_many
    from scrapers.images import inspect

    keys = sorted(p.name for p in folder.iterdir())
    blobs = {k: (folder / k).read_bytes() for k in keys}
    failures: dict[int, str] = {}
    if stage == "embed":
        from pipeline.imageio import inference_dataset
        from pipeline.lake import Lake

        dataset = inference_dataset(Lake(f"file://{folder}"), keys, 96, 1, failures)  # set up before the baseline
    before = _status_mb("VmRSS")
    if stage == "scrape":

        def check(key: str) -> str | None:
            try:
                inspect(blobs[key])
            except ImageRejected as exc:
                return str(exc)
            return None

        with ThreadPoolExecutor(threads) as pool:
            reasons = list(pool.map(check, keys))
    elif stage == "dedup":
        reasons = [h.reason for h in hash_many([(k, k) for k in keys], blobs.__getitem__, workers=threads)]
    else:
        for _ in dataset:
            pass
        reasons = [failures.get(i) for i in range(len(keys))]
    budget = imagegate._budget
    return {
        "peak_mb": _status_mb("VmHWM"),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "before_mb": before,
        "reserved_mb": budget.peak / 2**20 if budget and arm != "plain" else None,
        "accepted": sum(r is None for r in reasons),
        "reasons": sorted({r.split(":")[0] for r in reasons if r}),
    }


def run_child(arm: str, stage: str, folder: Path, threads: int, budget_mb: int) -> dict:
    env = {**os.environ, "VITRINE_DECODE_MEMORY_MB": str(budget_mb if arm == "gate" else 1 << 20)}
    if stage == "embed":
        env.update(TF_CPP_MIN_LOG_LEVEL="3", TF_NUM_INTEROP_THREADS=str(threads))
    cmd = [sys.executable, "-m", "bench.decode_memory", "--child", arm, stage, str(folder), "--threads", str(threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{arm}/{stage} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=7000, help="side of the PNGs over the cap")
    parser.add_argument("--under-side", type=int, default=5000, help="side of the images under the cap")
    parser.add_argument("--count", type=int, default=6, help="images in each set")
    parser.add_argument("--threads", type=int, default=8, help="decoding threads of each stage")
    parser.add_argument("--budget-mb", type=int, default=512, help="VITRINE_DECODE_MEMORY_MB of the gate arm")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--child", nargs=3, metavar=("ARM", "STAGE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        arm, stage, folder = args.child
        print(json.dumps(child(arm, stage, Path(folder), args.threads)))
        return
    with tempfile.TemporaryDirectory(prefix="vitrine-bench-decode-") as tmp:
        sets = write_inputs(Path(tmp), args.side, args.under_side, args.count)
        sizes = {name: sum(p.stat().st_size for p in d.iterdir()) / 1024 for name, d in sets.items()}
        print(
            f"{args.count} PNGs of {args.side}² ({sizes['over']:.0f} KB in all) and {args.count} images of "
            f"{args.under_side}² (PNG RGB/RGBA, JPEG baseline/progressive; {sizes['under']:.0f} KB); "
            f"{args.threads} threads a stage, gate budget {args.budget_mb} MB"
        )
        print(
            "| set | stage | arm | peak RSS MB | ru_maxrss MB | above start MB | reserved MB | accepted | refused as |"
        )
        print("|---|---|---|---|---|---|---|---|---|", flush=True)
        ratios = []
        for name, folder in sets.items():
            for stage in args.stages:
                got = {arm: run_child(arm, stage, folder, args.threads, args.budget_mb) for arm in ARMS}
                for arm, r in got.items():
                    reserved = "—" if r["reserved_mb"] is None else f"{r['reserved_mb']:.0f}"
                    print(
                        f"| {name} | {stage} | {arm} | {r['peak_mb']:.0f} | {r['maxrss_mb']:.0f} | "
                        f"{r['peak_mb'] - r['before_mb']:.0f} | {reserved} | {r['accepted']}/{args.count} | "
                        f"{', '.join(r['reasons']) or '—'} |",
                        flush=True,
                    )
                ratios.append((name, stage, got))
        print("\n| set | stage | peak RSS gate/plain | above start gate/plain | reduce/plain |")
        print("|---|---|---|---|---|")
        for name, stage, got in ratios:
            plain, reduced, gate = got["plain"], got["reduce"], got["gate"]
            work = [max(r["peak_mb"] - r["before_mb"], 1.0) for r in (plain, reduced, gate)]
            print(
                f"| {name} | {stage} | {gate['peak_mb'] / plain['peak_mb']:.3f} | {work[2] / work[0]:.3f} | "
                f"{work[1] / work[0]:.3f} |"
            )


if __name__ == "__main__":
    main()
