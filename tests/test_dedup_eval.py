"""`vitrine dedup-eval` on a handful of generated photos: every transformation class runs
through the pipeline's hashing, the report (table, CSV, PNG) is written."""

from __future__ import annotations

import argparse

from pipeline.dedup import add_cli
from pipeline.dedup.eval import REQUIRED, build_pairs, hash_photos, metrics
from pipeline.dedup.grouping import Thresholds
from tests.support.dedup import encode, garment


def _photo_folder(tmp_path, n: int = 6):
    folder = tmp_path / "photos"
    folder.mkdir()
    rows = ["id,articleType,productDisplayName"]
    for k in range(n):
        (folder / f"{k}.jpg").write_bytes(encode(garment(100 + k, size=192), quality=95))
        rows.append(f"{k},Tshirts,Tee number {k}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_transformations_are_found_and_colorways_kept_apart(tmp_path):
    folder = _photo_folder(tmp_path)
    pairs = build_pairs(hash_photos(folder, tmp_path / "labels.csv", None, workers=1))
    m = metrics(pairs, Thresholds())
    assert {k: m[k]["n"] for k in REQUIRED} == {k: 6 for k in REQUIRED}
    assert all(m[k]["recall"] == 1.0 for k in REQUIRED), m
    assert m["padding_10%"]["recall"] == 1.0, "the trimmed view sees through white borders"
    assert m["colorway"]["n"] == 6 and m["colorway"]["false_merges"] == 0
    assert m["other_product"]["n"] > 0 and m["other_product"]["false_merges"] == 0


def test_cli_writes_table_csv_and_plot(tmp_path, capsys):
    folder = _photo_folder(tmp_path, n=4)
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["dedup-eval", str(folder), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "| watermark |" in out and "colorway (negatives)" in out and "held-out half" in out
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"dedup_eval.md", "dedup_eval.csv", "dedup_eval.png"}
