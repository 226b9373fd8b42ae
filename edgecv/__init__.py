"""edgecv: recipe -> trained Keras model -> verified int8 TFLite file for edge devices.

Importing edgecv is cheap: TensorFlow is imported only by the functions that need it.
"""
from edgecv import env  # noqa: F401  (first: TF_USE_LEGACY_KERAS before TensorFlow can load)

from edgecv.version import __version__  # noqa: E402


def create_model(name, **kwargs):
    """Build a registered model; `None` keyword arguments mean "use the default"."""
    from edgecv.models import create_model as _create

    return _create(name, **kwargs)


def list_models(pattern="*"):
    """Names of registered models matching a shell-style pattern."""
    from edgecv.models import list_models as _list

    return _list(pattern)


def load_recipe(path, overrides=()):
    """Load and validate a YAML recipe, applying `a.b=value` overrides."""
    from edgecv.recipe import load_recipe as _load

    return _load(path, overrides)


__all__ = ["__version__", "create_model", "list_models", "load_recipe"]
