"""Vitrine: the library behind the DAGs. One module per pipeline stage."""

import os

# TensorFlow's C++ start-up notices (CPU features, absl) go to stderr, which Airflow records as
# error lines in every task that imports it; keep its warnings and errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
