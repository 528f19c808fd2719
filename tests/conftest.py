import os

# Quieter TensorFlow when a test imports it; no effect on results.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
