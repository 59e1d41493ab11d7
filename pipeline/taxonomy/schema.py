"""The taxonomy YAML (``config/taxonomy.yaml``): loading, validation, and labelling a product."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import REPO_ROOT
from pipeline.taxonomy.matcher import PhraseMatcher, normalize

DEFAULT_PATH = REPO_ROOT / "config" / "taxonomy.yaml"

#: The fixed minimum vocabularies: a taxonomy may add values, never drop these.
CONTRACT_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "category": (
        "tshirts_tops",
        "shirts",
        "sweaters_knitwear",
        "sweatshirts_hoodies",
        "jackets_coats",
        "dresses",
        "skirts",
        "jeans",
        "trousers",
        "shorts",
        "footwear",
        "bags",
        "watches",
        "accessories",
    ),
    "color": (
        "black",
        "white",
        "grey",
        "blue",
        "red",
        "pink",
        "green",
        "yellow",
        "orange",
        "purple",
        "brown",
        "beige",
        "multi",
    ),
    "pattern": ("solid", "striped", "checked", "printed", "floral", "dotted"),
}

#: Product-table columns a rule may read (README: Lake tables, `products`).
FIELDS = ("product_type", "category_path", "tags", "title", "color", "pattern", "material", "options")


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message says where."""


@dataclass(frozen=True)
class Attribute:
    """One attribute: its vocabulary, where to look, and the phrase matcher."""

    name: str
    values: tuple[str, ...]
    fields: tuple[str, ...]
    matcher: PhraseMatcher

    def label(self, product: Mapping[str, Any]) -> str | None:
        """The value for a product, or None when no field gives an unambiguous match."""
        for field in self.fields:
            for text in _field_texts(product.get(field), deepest_first=field == "category_path"):
                found = self.matcher.match(text)
                if len(found) == 1:
                    return next(iter(found))
                if found:  # ambiguous within the most reliable field that matched: no label
                    return None
        return None


def _field_texts(value: Any, *, deepest_first: bool) -> list[str]:
    """Texts to try in order: a path is tried level by level, deepest first; other lists as one."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    items = [str(v) for v in value if v is not None and str(v).strip()]
    if deepest_first:
        return list(reversed(items))
    return [" | ".join(items)] if items else []


@dataclass(frozen=True)
class Taxonomy:
    attributes: dict[str, Attribute]
    path: str

    def vocabularies(self, names: list[str] | None = None) -> dict[str, list[str]]:
        """Attribute name → ordered values (all attributes, or the ``names`` given)."""
        chosen = names or list(self.attributes)
        unknown = sorted(set(chosen) - set(self.attributes))
        if unknown:
            raise TaxonomyError(f"unknown attribute(s) {unknown}; {self.path} defines {list(self.attributes)}")
        return {n: list(self.attributes[n].values) for n in chosen}

    def label(self, product: Mapping[str, Any]) -> dict[str, str | None]:
        """Every attribute's weak label for one product (None = unknown)."""
        return {name: attr.label(product) for name, attr in self.attributes.items()}


def _phrases(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(p, (str, int)) for p in raw):
        raise TaxonomyError(f"{where}: expected a list of words/phrases, got {raw!r}")
    phrases = [str(p) for p in raw]
    for p in phrases:
        if not normalize(p):
            raise TaxonomyError(f"{where}: phrase {p!r} has no letters or digits")
    return phrases


def _parse_attribute(name: str, spec: Any, where: str) -> Attribute:
    if not isinstance(spec, dict):
        raise TaxonomyError(f"{where}: expected a mapping with 'fields' and 'values'")
    extra = sorted(set(spec) - {"fields", "values", "ignore"})
    if extra:
        raise TaxonomyError(f"{where}: unknown key(s) {extra} (allowed: fields, values, ignore)")
    fields = spec.get("fields")
    if not fields or not isinstance(fields, list):
        raise TaxonomyError(f"{where}.fields: expected a non-empty list of {list(FIELDS)}")
    bad = [f for f in fields if f not in FIELDS]
    if bad:
        raise TaxonomyError(f"{where}.fields: unknown field(s) {bad}; known: {list(FIELDS)}")
    values = spec.get("values")
    if not values or not isinstance(values, dict):
        raise TaxonomyError(f"{where}.values: expected a mapping value → [phrases]")
    rules: dict[str, list[str]] = {}
    for value, raw in values.items():
        if not isinstance(value, str) or not value.replace("_", "").isalnum() or value != value.lower():
            raise TaxonomyError(f"{where}.values: value {value!r} must be lower_snake_case")
        rules[value] = _phrases(raw, f"{where}.values.{value}")
    try:
        matcher = PhraseMatcher(rules, ignore=_phrases(spec.get("ignore"), f"{where}.ignore"))
    except ValueError as exc:
        raise TaxonomyError(f"{where}: {exc}") from exc
    required = CONTRACT_VOCABULARIES.get(name, ())
    missing = [v for v in required if v not in rules]
    if missing:
        raise TaxonomyError(f"{where}.values: contract vocabulary value(s) missing: {missing}")
    return Attribute(name, tuple(rules), tuple(fields), matcher)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy YAML (default ``config/taxonomy.yaml``)."""
    path = Path(path or DEFAULT_PATH)
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("attributes"), dict) or not doc["attributes"]:
        raise TaxonomyError(f"{path}: expected a top-level 'attributes:' mapping")
    attributes = {
        name: _parse_attribute(name, spec, f"{path}: attributes.{name}") for name, spec in doc["attributes"].items()
    }
    missing = [a for a in CONTRACT_VOCABULARIES if a not in attributes]
    if missing:
        raise TaxonomyError(f"{path}: contract attribute(s) missing: {missing}")
    return Taxonomy(attributes, str(path))
