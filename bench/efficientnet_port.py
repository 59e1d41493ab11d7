"""EfficientNet-Lite0 port checks (never run in CI).

``--reference`` (needs PyTorch and the reference implementation, outside the project lock)::

    python3.11 -m pip install --target /tmp/torchref torch==2.13.0 efficientnet-lite-pytorch==0.1.0
    PYTHONPATH=/tmp/torchref .venv/bin/python -m bench.efficientnet_port --reference

runs ``efficientnet_lite_pytorch.EfficientNet`` ('efficientnet-lite0', the state dict loaded
with ``torch.load``) on a few fixed inputs and saves inputs and logits to
``tests/data/efficientnet_lite0_reference.npz``; ``tests/test_backbones.py`` asserts that the
Keras port reproduces them within 1e-4. It also prints the largest difference it sees now.

``--plausibility PHOTOS`` (the shared photo folder, no PyTorch) checks ImageNet top-5 on the
photos whose ``articleType`` has an obvious ImageNet counterpart, under both candidate input
normalizations, which is how the preprocessing was chosen::

    .venv/bin/python -m bench.efficientnet_port --plausibility ../shared/datasets/fashion-products
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from pipeline.backbones import efficientnet_lite as lite

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "data" / "efficientnet_lite0_reference.npz"
SIZE = 224
# ImageNet-1k class indices that are a plausible top-5 answer per articleType
PLAUSIBLE = {
    "Watches": {409, 530, 531, 826, 892},  # analog clock, digital clock, digital watch, stopwatch, wall clock
    "Sports Shoes": {770},  # running shoe
    "Handbags": {748, 636},  # purse, mailbag
    "Jeans": {608},  # jean, blue jean, denim
}
# torchvision's ImageNet statistics, the alternative to the TF-Lite (x - 127) / 128
TORCH_MEAN = np.array([0.485, 0.456, 0.406]) * 255
TORCH_STD = np.array([0.229, 0.224, 0.225]) * 255


def fixed_inputs() -> np.ndarray:
    """Three deterministic RGB images: a smooth color ramp, blocky noise, a dark disc on white."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    ramp = np.stack([xx, yy, 1 - xx * yy], -1) * 255
    blocks = np.random.default_rng(13).uniform(0, 255, (SIZE // 16, SIZE // 16, 3)).repeat(16, 0).repeat(16, 1)
    disc = np.full((SIZE, SIZE, 3), 255.0)
    disc[(xx - 0.5) ** 2 + (yy - 0.55) ** 2 < 0.09] = (40, 60, 120)
    return np.stack([ramp, blocks, disc]).round().astype(np.uint8)


def keras_logits(images: np.ndarray, *, torch_norm: bool = False) -> np.ndarray:
    """ImageNet logits of the Keras port for uint8 images (optionally with torchvision's norm)."""
    x = images.astype(np.float32)
    if torch_norm:  # feed what (x - 127) / 128 turns into torchvision's normalization
        x = ((x - TORCH_MEAN) / TORCH_STD * lite.STD + lite.MEAN).astype(np.float32)
    net = lite.pretrained(include_top=True)
    return np.asarray(net.model(images.shape[1], name="efficientnet_lite0").predict(x, batch_size=32, verbose=0))


def reference() -> None:
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(lite.weights_path(), map_location="cpu", weights_only=True))
    model.eval()
    images = fixed_inputs()
    x = torch.from_numpy((images.astype(np.float32) - lite.MEAN) / lite.STD).permute(0, 3, 1, 2)
    with torch.no_grad():
        logits = model(x).numpy()
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, images=images, logits=logits)
    ours = keras_logits(images)
    print(f"saved {REFERENCE} ({len(images)} inputs, top-1 {logits.argmax(1).tolist()})")
    print(f"max |keras - torch| = {np.abs(ours - logits).max():.2e} (logit range {np.ptp(logits):.1f})")


def plausibility(folder: Path) -> None:
    from pipeline.imageio import decode_bytes

    rows = [r for r in csv.DictReader(open(folder / "labels.csv")) if r["articleType"] in PLAUSIBLE]
    images = np.stack([decode_bytes((folder / "images" / f"{r['id']}.jpg").read_bytes(), SIZE) for r in rows])
    kinds = [r["articleType"] for r in rows]
    for name, torch_norm in (("(x - 127) / 128 [TF-Lite]", False), ("ImageNet mean/std [torchvision]", True)):
        start = time.monotonic()
        top5 = np.argsort(-keras_logits(images, torch_norm=torch_norm), axis=1)[:, :5]
        hits = [bool(PLAUSIBLE[k] & set(t.tolist())) for k, t in zip(kinds, top5)]
        per = {
            k: f"{np.mean([h for h, kk in zip(hits, kinds) if kk == k]):.3f} (n={kinds.count(k)})" for k in PLAUSIBLE
        }
        print(
            f"{name:34s} top-5 plausible {np.mean(hits):.3f} of {len(hits)} photos  {per}  "
            f"({len(hits) / (time.monotonic() - start):.0f} img/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", action="store_true", help="save torch reference logits (needs torch)")
    parser.add_argument("--plausibility", type=Path, metavar="PHOTOS", help="labelled photo folder")
    args = parser.parse_args()
    if args.reference:
        reference()
    if args.plausibility:
        plausibility(args.plausibility)
    if not (args.reference or args.plausibility):
        parser.print_help()


if __name__ == "__main__":
    main()
