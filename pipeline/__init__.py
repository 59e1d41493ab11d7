"""Vitrine: the library behind the DAGs. One module per pipeline stage."""

import os

from pipeline import tf_startup

# TensorFlow's C++ logging goes to stderr, which Airflow records as error lines in every task
# that imports it: keep its warnings and errors only, and its start-up notices not at all.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf_startup.install()
