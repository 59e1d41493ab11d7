"""One image gate, one pixel cap, one memory budget: the scraper, dedup, inference (and so
the client) refuse the same bytes for the same reason, and decode large ones small."""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib

import pytest
from PIL import Image

from pipeline import imagegate
from pipeline.dedup.hashing import hash_bytes, hash_many
from pipeline.imagegate import ImageRejected
from pipeline.imageio import decode_bytes
from scrapers.images import inspect
from tests.support.images import large_png


def _png(width: int, height: int, claim: tuple[int, int] | None = None, mode: str = "RGB") -> bytes:
    """A valid PNG; with ``claim``, a tiny one whose header claims that size."""
    buf = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30, 0) if mode == "RGBA" else (200, 30, 30)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    if claim:
        ihdr = struct.pack(">II", *claim) + bytes(data[24:29])
        data[16:29] = ihdr
        data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def _reasons(data: bytes) -> list[str]:
    out = []
    for check in (inspect, lambda d: hash_bytes("x", d).reason or "", lambda d: decode_bytes(d, 16)):
        try:
            out.append(str(check(data)))
        except ImageRejected as exc:
            out.append(str(exc))
    return out


def test_one_pixel_cap_for_every_stage():
    over = (imagegate.MAX_PIXELS // 7000 + 1, 7000)  # just over the cap, under PIL's own bomb limit
    assert _reasons(_png(4, 4, claim=over)) == [f"too many pixels: {over[0]}x{over[1]}"] * 3


def test_bombs_and_non_images_are_refused_before_decoding():
    assert all(r.startswith("too many pixels") for r in _reasons(_png(4, 4, claim=(30000, 30000))))
    with pytest.raises(ImageRejected, match="not an image"):
        imagegate.decode_rgb(b"<html>hello</html>", 64)


def test_transparency_is_white_and_size_is_the_original():
    img, width, height = imagegate.decode_rgb(_png(60, 40, mode="RGBA"), 64)
    assert (img.mode, width, height) == ("RGB", 60, 40)
    assert img.getpixel((5, 5)) == (255, 255, 255)


def test_truncated_data_is_refused_when_loaded():
    buf = io.BytesIO()
    Image.frombytes("RGB", (200, 200), os.urandom(200 * 200 * 3)).save(buf, "PNG")
    data = buf.getvalue()[:3000]
    with pytest.raises(ImageRejected, match="truncated|corrupt"):
        imagegate.decode_rgb(data, 64)


def test_a_large_png_is_decoded_small_and_a_7000_square_one_is_refused():
    data = large_png(4000, 3000)  # 12 MP, under the cap
    img, width, height = imagegate.decode_rgb(data, 256)
    assert (width, height, img.mode) == (4000, 3000, "RGB")
    assert 256 <= min(img.size) < 512 and img.width / img.height == pytest.approx(4 / 3, rel=0.01)
    assert img.getpixel((img.width // 2, img.height // 2)) == (64, 64, 64) and img.getpixel((2, 2)) == (255,) * 3
    assert decode_bytes(data, 32).shape == (32, 32, 3)
    assert inspect(data).width == 4000  # the scraper's check decodes it once and keeps nothing
    with pytest.raises(imagegate.TooManyPixels) as err:
        imagegate.decode_rgb(large_png(7000, 7000), 256)
    assert str(err.value) == "too many pixels: 7000x7000"


def test_decodes_wait_for_the_memory_budget():
    budget = imagegate.DecodeBudget(100)
    first_in, second_in, let_go = threading.Event(), threading.Event(), threading.Event()

    def hold(event: threading.Event, nbytes: int) -> None:
        with budget.reserve(nbytes):
            event.set()
            let_go.wait(10)

    first = threading.Thread(target=hold, args=(first_in, 60))
    first.start()
    assert first_in.wait(10)
    second = threading.Thread(target=hold, args=(second_in, 60))
    second.start()
    assert not second_in.wait(0.3)  # 60 + 60 is over the budget: the second waits
    let_go.set()
    assert second_in.wait(10)
    first.join(), second.join()
    with budget.reserve(500):  # over the whole budget: runs, alone
        assert budget.in_use == 500
    assert (budget.in_use, budget.peak) == (0, 500)


def test_the_process_budget_from_the_environment_bounds_parallel_hashing(monkeypatch):
    monkeypatch.setenv("VITRINE_DECODE_MEMORY_MB", "64")
    monkeypatch.setattr(imagegate, "_budget", None)
    data = large_png(3000, 2000, mode="RGBA")  # about 48 MB to decode and reduce: one at a time
    hashed = hash_many([(str(i), "k") for i in range(4)], lambda key: data, workers=4)
    budget = imagegate.decode_budget()
    assert budget.limit == 64 << 20 and 0 < budget.peak <= budget.limit
    assert [h.reason for h in hashed] == [None] * 4 and len({h.phash for h in hashed}) == 1
