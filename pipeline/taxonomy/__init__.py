"""Weak labels from retailer metadata: the YAML taxonomy, its matcher and a coverage report."""

from pipeline.taxonomy.schema import (
    CONTRACT_VOCABULARIES,
    DEFAULT_PATH,
    Attribute,
    Taxonomy,
    TaxonomyError,
    load_taxonomy,
)

__all__ = [
    "CONTRACT_VOCABULARIES",
    "DEFAULT_PATH",
    "Attribute",
    "Taxonomy",
    "TaxonomyError",
    "load_taxonomy",
]
