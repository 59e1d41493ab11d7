"""bench/extraction.py scores with the public product-extraction benchmark's own metric
(its evaluate.py) and reads that benchmark's layout as it is published."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

from bench.extraction import dataset_root, expected, pages, predicted, score, tp_fp_fn


def test_one_wrong_value_is_a_false_positive_and_a_false_negative():
    assert tp_fp_fn({"B01"}, "B01") == (1, 0, 0)
    assert tp_fp_fn({"B01"}, "B02") == (0, 1, 1)
    assert tp_fp_fn({"B01"}, None) == (0, 0, 1)
    assert tp_fp_fn(set(), "B02") == (0, 1, 0)  # a value where none is expected
    assert tp_fp_fn(set(), None) == (0, 0, 0)


def test_precision_and_recall_as_the_benchmark_defines_them():
    only_extra = score([(set(), "x")])
    assert (only_extra["precision"], only_extra["recall"], only_extra["f1"]) == (0.0, 0.0, 0.0)
    nothing_to_find = score([(set(), None)])
    assert (nothing_to_find["precision"], nothing_to_find["recall"]) == (1.0, 1.0)
    half = score([({"1"}, "1"), ({"2"}, "3")])
    assert (half["precision"], half["recall"], half["support"]) == (0.5, 0.5, 2)


def test_fields_match_as_the_benchmark_matches_them():
    truth = {"url": "https://shop.example/p/1", "price": ["34.000"], "sku": ["466/7999"], "gtin": ["5018479061991"]}
    assert expected(truth, "price") == {Decimal("34")}  # prices compare as Decimals
    assert predicted({"price": Decimal("34.00")}, "price", truth["url"]) in expected(truth, "price")
    assert predicted({"sku": "4667999"}, "sku", truth["url"]) not in expected(truth, "sku")  # exact strings
    assert predicted({"sku": "5018479061991"}, "sku", truth["url"]) not in expected(
        truth, "sku"
    )  # a GTIN only where listed
    assert expected(truth, "availability") == {"InStock"}  # unless the page says otherwise
    assert predicted(None, "availability", truth["url"]) == "InStock"  # the benchmark fills empty predictions
    signs = {"url": truth["url"], "currency": ["€"]}  # the benchmark writes the sign the page shows
    assert predicted({"currency": "EUR"}, "currency", truth["url"]) in expected(signs, "currency")
    assert predicted({"currency": "USD"}, "currency", truth["url"]) not in expected(
        {**signs, "currency": ["$"]}, "currency"
    )
    assert predicted(None, "avail-strict", truth["url"]) is None  # as its extruct numbers were published
    assert predicted({"availability": "unknown"}, "avail-strict", truth["url"]) is None
    sold_out = {"availability": "out_of_stock"}
    assert (predicted(sold_out, "OutOfStock", ""), predicted(sold_out, "InStock", "")) == ("OutOfStock", None)


def test_reads_the_benchmarks_layout(tmp_path: Path):
    data = tmp_path / "dataset"
    (data / "html").mkdir(parents=True)
    (data / "ground-truth.json").write_text(json.dumps({"abc": {"url": "https://shop.example/p/1"}}))
    (data / "html" / "abc.html.gz").write_bytes(gzip.compress(b"<html></html>"))
    assert dataset_root(tmp_path) == data
    assert set(pages(data)) == {"abc"}


def test_scores_a_folder_against_a_ground_truth_kept_elsewhere(tmp_path: Path, monkeypatch, capsys):
    from bench import extraction

    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "7.html").write_text(
        '<html><body><h1>Trail Shoe</h1><span class="price">€45.50</span><button>Add to cart</button></body></html>'
    )
    truth = tmp_path / "labels.json"
    truth.write_text(json.dumps({"7": {"url": "https://shop.example/p/trail-shoe", "price": "45.50"}}))
    monkeypatch.setattr("sys.argv", ["extraction", str(tmp_path), "--truth", str(truth)])
    assert extraction.main() == 0
    assert any(line.split()[:3] == ["price", "1", "1.000"] for line in capsys.readouterr().out.splitlines())
