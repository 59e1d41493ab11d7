"""Vitrine: the library behind the DAGs. One module per pipeline stage."""
