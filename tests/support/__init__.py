"""Helpers shared by the tests (catalogs, models, releases, images); import as ``from tests.support.X import ...``."""
