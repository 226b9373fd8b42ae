"""A SIGTERM whose first raise TensorFlow swallowed still stops the run at the next batch."""
from __future__ import annotations

import os
import signal

import pytest

from edgecv.signals import Terminated, raise_if_terminated, sigterm_as_interrupt


def test_a_swallowed_sigterm_is_raised_again_and_forgotten_after_the_block():
    with sigterm_as_interrupt():
        raise_if_terminated()                    # nothing arrived: no-op
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Terminated:
            pass                                 # what TF's C++ -> Python bridge may do to it
        with pytest.raises(Terminated, match="signal 15"):
            raise_if_terminated()
    raise_if_terminated()                        # outside the block the flag is cleared


def test_training_stops_at_the_next_batch_after_a_swallowed_sigterm():
    import numpy as np
    import tf_keras as keras

    from edgecv.train.stages import _stop_on_sigterm

    model = keras.Sequential([keras.layers.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []

    class Swallow(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)
            if batch == 1:
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                except Terminated:
                    pass

    with sigterm_as_interrupt(), pytest.raises(Terminated):
        model.fit(np.zeros((40, 2)), np.zeros((40, 1)), batch_size=4, epochs=1, verbose=0,
                  callbacks=[Swallow(), _stop_on_sigterm()])
    assert seen == [0, 1]                        # stopped after the batch the signal hit
