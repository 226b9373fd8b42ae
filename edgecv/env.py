"""Process environment for TensorFlow, set once before TensorFlow can load.

`edgecv/__init__.py` imports this module first, and every `edgecv.*` module import runs
that package init, so no module needs a side-effect `import edgecv` before importing
tf_keras.
"""
import os

# tfmot only works with the Keras 2 API (tf_keras); this must be set before TF loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Keep TensorFlow's C++ start-up chatter out of the user's terminal.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
