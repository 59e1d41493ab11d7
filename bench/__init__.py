"""Benchmarks (see the docstring at the top of each); run one as ``python -m bench.<name>``."""
