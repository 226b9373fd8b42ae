"""Embedding (Siamese / one-shot verification): identities as classes, an L2-normalised
embedding head, triplet loss over PK batches, verification and retrieval metrics.

- task.py      the task object and `make_task`
- config.py    the recipe's `embedding:` section
- loss.py      batch-hard / semi-hard triplet and contrastive losses (tf_keras)
- metrics.py   the one numpy definition of ROC AUC, TAR@FAR, threshold, recall@k, fidelity
- head.py      the embedding head put on any backbone (tf_keras)
"""
from edgecv.tasks.embedding.task import EmbeddingTask, make_task

__all__ = ["EmbeddingTask", "make_task"]
