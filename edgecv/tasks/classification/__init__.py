"""Classification: sparse labels, softmax outputs, top-1 / top-5 accuracy."""
from edgecv.tasks.classification.task import TASK, ClassificationTask, classification_scores, make_task

__all__ = ["TASK", "ClassificationTask", "classification_scores", "make_task"]
