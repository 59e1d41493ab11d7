"""TensorFlow's C++ start-up notices stay off stderr (Airflow logs task stderr as errors)."""

from __future__ import annotations

import subprocess
import sys

from pipeline.tf_startup import filter_notices

NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796127310.540155   20865 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796127310.621796   20865 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.\n"
)


def test_only_the_start_up_notices_are_dropped() -> None:
    real = "E0000 00:00:1796127310.6 20865 cuda_dnn.cc:8] Unable to register cuDNN factory\nTraceback: boom\n"
    assert filter_notices(NOTICES) == ""
    assert filter_notices(NOTICES + real) == real


def test_importing_keras_through_the_library_prints_nothing_on_stderr() -> None:
    code = "import pipeline, keras, tensorflow as tf; print(int(tf.constant(41) + 1))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert proc.stdout.strip() == "42"
    assert proc.stderr == "", proc.stderr
