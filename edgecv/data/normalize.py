"""The one input normalisation every edgecv model uses: pixels -> [-1, 1]."""
import numpy as np

MEAN = 127.5
STD = 127.5


def normalize(pixels) -> np.ndarray:
    """uint8 (or float pixel-valued) array -> float32 in [-1, 1]."""
    return (np.asarray(pixels, dtype=np.float32) - MEAN) / STD
