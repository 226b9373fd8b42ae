"""edgecv's version, in a module of its own so that any layer can name it without
importing the package face (which reaches up to the recipe)."""
__version__ = "0.1.0"
