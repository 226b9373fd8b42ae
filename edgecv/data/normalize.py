"""The one input normalisation every edgecv model uses: pixels -> [-1, 1]."""
import numpy as np

MEAN = 127.5
STD = 127.5

# How an image reaches the model size (recipe `data.resize`, export metadata `resize`):
# stretch each axis, or letterbox (one scale factor, centred, padded with this grey,
# ~0 after normalisation, so the padding adds no edges or colours).
RESIZE_MODES = ("stretch", "letterbox")
LETTERBOX_FILL = 128


def normalize(pixels) -> np.ndarray:
    """uint8 (or float pixel-valued) array -> float32 in [-1, 1]."""
    return (np.asarray(pixels, dtype=np.float32) - MEAN) / STD
