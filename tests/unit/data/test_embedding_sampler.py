"""The PK sampler (edgecv.data.sampling) through make_pipeline: every training batch holds
P identities x K images, and each round of batches covers every identity."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgecv.data.dataset import ArraySource, new_dataset
from edgecv.data.sampling import PKSampler
from edgecv.errors import DataError


def _identities(counts, task="classification"):
    """An in-memory dataset whose image i is filled with its own index (to trace samples)."""
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(counts)]).astype(np.int32)
    images = (np.arange(len(labels)) % 256).astype(np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 1), np.uint8)
    return new_dataset(task, [f"id{c}" for c in range(len(counts))], ArraySource(images, labels), name="ids")


def test_every_batch_is_p_by_k_and_each_round_covers_every_identity():
    from edgecv.data import make_pipeline

    counts = [5, 3, 8, 2, 6, 4, 7]          # 7 identities, 35 images
    ds = _identities(counts)
    sampler = PKSampler(3, 4)
    data = make_pipeline(ds, input_shape=(8, 8, 1), batch_size=12, training=True, seed=1, sampler=sampler)
    steps = max(math.ceil(35 / 12), math.ceil(7 / 3))
    assert int(data.cardinality()) == steps == sampler.steps(ds) == 3
    batches = [y.numpy() for _, y in data]
    assert len(batches) == steps
    for labels in batches:
        ids, per = np.unique(labels, return_counts=True)
        assert len(ids) == 3 and (per == 4).all()
        assert list(labels) == [v for v in labels[::4] for _ in range(4)]   # K in a row per identity
    rounds = math.ceil(7 / 3)
    assert set(np.concatenate(batches[:rounds])) == set(range(7))
    # A second epoch draws other batches (reshuffled), still P x K.
    again = [y.numpy() for _, y in data]
    assert any(not np.array_equal(a, b) for a, b in zip(batches, again))
    # The images match their labels: pixel value = image index.
    x, y = next(iter(data))
    index = np.round((x.numpy()[:, 0, 0, 0] + 1) * 127.5).astype(int)
    assert (ds.source.labels[index] == y.numpy()).all()


def test_validation_batches_are_fixed_and_fit_a_small_held_out_set():
    from edgecv.data import make_pipeline

    ds = _identities([4, 6])                  # 2 held-out identities, P = 3 asked for
    data = make_pipeline(ds, input_shape=(8, 8, 1), batch_size=6, training=False, sampler=PKSampler(3, 2))
    first, second = [y.numpy() for _, y in data], [y.numpy() for _, y in data]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))      # same every epoch
    assert len(first) == 3 and all(sorted(np.unique(b, return_counts=True)[1]) == [2, 2] for b in first)


def test_identities_with_one_image_are_left_out_and_too_few_identities_is_an_error():
    ds = _identities([4, 1, 4])
    sampler = PKSampler(2, 2, where="embedding.images_per_identity")
    assert [len(g) for g in sampler.groups(ds)] == [4, 4]
    with pytest.raises(DataError, match="embedding.images_per_identity: a batch holds 3 identities"):
        PKSampler(3, 2, where="embedding.images_per_identity").groups(ds)


def test_cache_with_a_sampler_is_refused():
    from edgecv.data import make_pipeline

    with pytest.raises(DataError, match="data.cache"):
        make_pipeline(_identities([3, 3]), input_shape=(8, 8, 1), batch_size=4, training=True,
                      cache=True, sampler=PKSampler(2, 2))
