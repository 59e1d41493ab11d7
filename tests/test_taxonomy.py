"""Taxonomy: mapping table, ambiguity → no label, YAML validation, coverage report."""

from __future__ import annotations

import pytest

from pipeline.taxonomy import CONTRACT_VOCABULARIES, TaxonomyError, load_taxonomy
from pipeline.taxonomy.coverage import coverage_report, label_products
from pipeline.taxonomy.matcher import PhraseMatcher


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


CASES = [
    # (product metadata, expected labels (only the keys given are checked))
    (
        {"product_type": "Tshirts", "title": "Nike Men Solid White T-Shirt"},
        {"category": "tshirts_tops", "pattern": "solid"},
    ),
    (
        {
            "product_type": "Topwear",
            "category_path": ["Apparel", "Topwear"],
            "title": "Roadster Men Navy Blue Checked Shirt",
        },
        {"category": "shirts", "color": "blue", "pattern": "checked"},
    ),
    ({"title": "Puma Men Short Sleeve Grey T-Shirts"}, {"category": "tshirts_tops", "color": "grey"}),
    ({"title": "Levis Men Blue Jeans and White Shirt Combo"}, {"category": None}),
    (
        {"product_type": "Casual Shoes", "title": "Red Tape Men Brown Casual Shoes", "color": "Brown"},
        {"category": "footwear", "color": "brown", "pattern": None},
    ),
    ({"product_type": "Sunglasses", "color": "Charcoal"}, {"category": "accessories", "color": "grey"}),
    (
        {"category_path": ["Accessories", "Watches"], "title": "Titan Women Gold Watch", "color": "Gold"},
        {"category": "watches", "color": None},
    ),  # metal finishes are not hues
    ({"product_type": "Perfume and Body Mist", "title": "Davidoff Men Cool Water"}, {"category": None, "color": None}),
    (
        {"product_type": "Hoodies", "title": "Hooded Sweatshirt in Maroon", "tags": ["Women", "Winter"]},
        {"category": "sweatshirts_hoodies", "color": "red", "gender": "women"},
    ),
    (
        {"product_type": "", "title": "Floral Print Maxi Dress", "options": ["Pink", "Pink"]},
        {"category": "dresses", "color": "pink", "pattern": "floral"},
    ),
    (
        {"title": "Striped Polo Shirt", "color": "Multi"},
        {"category": "tshirts_tops", "color": "multi", "pattern": "striped"},
    ),
    ({"title": "Black & White Sneakers"}, {"category": "footwear", "color": None}),
    ({"title": "Tie Dye Shorts"}, {"category": "shorts", "pattern": "printed"}),
    ({"title": "Polka Dot Skirt", "tags": ["Girls"]}, {"category": "skirts", "pattern": "dotted", "gender": "girls"}),
    (
        {"product_type": "Topwear", "category_path": ["Apparel", "Topwear", "Jackets"], "title": "Men Bomber"},
        {"category": "jackets_coats"},
    ),
    ({}, {"category": None, "color": None, "pattern": None}),
]


@pytest.mark.parametrize("product,expected", CASES)
def test_mapping_table(taxonomy, product, expected) -> None:
    labels = taxonomy.label(product)
    assert {k: labels[k] for k in expected} == expected


def test_contract_vocabularies_come_first_in_order(taxonomy) -> None:
    vocab = taxonomy.vocabularies()
    for name, values in CONTRACT_VOCABULARIES.items():
        assert vocab[name][: len(values)] == list(values)


def test_matcher_longest_match_plurals_and_tokens() -> None:
    m = PhraseMatcher({"tops": ["t-shirt", "top"], "shirts": ["shirt"], "dresses": ["dress"]})
    assert m.match("Men's T-SHIRTS") == {"tops"}
    assert m.match("Topwear") == set()
    assert m.match("Dresses") == {"dresses"}
    assert m.match("shirt over a top") == {"tops", "shirts"}


def _write(tmp_path, text: str):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text)
    return path


BASE = """
attributes:
  category: {fields: [title], values: {%s}}
  color: {fields: [color], values: {%s}}
  pattern: {fields: [title], values: {%s}}
"""


def _full(attr: str, extra: str = "") -> str:
    return ", ".join(f"{v}: [{v}]" for v in CONTRACT_VOCABULARIES[attr]) + extra


def test_a_new_value_is_a_yaml_line(tmp_path) -> None:
    tax = load_taxonomy(
        _write(
            tmp_path, BASE % (_full("category", ", jumpsuits: [jumpsuit, romper]"), _full("color"), _full("pattern"))
        )
    )
    assert tax.label({"title": "Denim Romper"})["category"] == "jumpsuits"


@pytest.mark.parametrize(
    "text,message",
    [
        ("attributes: [1, 2]", "attributes"),
        (BASE % (_full("category"), _full("color"), "solid: [solid]"), "contract vocabulary value"),
        (BASE % (_full("category", ", Bad Value: [x]"), _full("color"), _full("pattern")), "lower_snake_case"),
        (BASE % (_full("category", ", other: [shirts]"), _full("color"), _full("pattern")), "both"),
        (
            BASE.replace("[title]", "[titel]", 1) % (_full("category"), _full("color"), _full("pattern")),
            "unknown field",
        ),
        ("attributes:\n  color: {fields: [color], values: {black: [black]}}\n  bad: [", "not valid YAML"),
    ],
)
def test_invalid_taxonomy_is_a_clear_error(tmp_path, text, message) -> None:
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(_write(tmp_path, text))


def test_coverage_report_counts_and_lists_unmatched(taxonomy) -> None:
    products = [
        {"product_id": "a:1", "product_type": "Shirts", "title": "Blue Shirt", "color": "Blue"},
        {"product_id": "a:2", "product_type": "Briefs", "title": "Cotton Briefs", "color": "Blue"},
        {"product_id": "a:3", "product_type": "Briefs", "title": "Briefs", "color": None},
    ]
    report = coverage_report(taxonomy, products, label_products(taxonomy, products), sample_size=2)
    cat = report["attributes"]["category"]
    assert cat["labelled"] == 1 and cat["values"]["shirts"] == 1
    assert cat["top_unmatched_product_type"][0] == ("Briefs", 2)
    assert report["attributes"]["color"]["labelled"] == 2
    assert len(report["sample"]) == 2
