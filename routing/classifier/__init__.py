"""Department text classifier: pure Python (numpy, scipy, scikit-learn), no Django.

The Django side trains, stores and activates versions of `DepartmentModel`; this package
only knows texts, labels and artifact files.
"""

from .data import read_labelled_csv
from .evaluation import evaluate_model
from .model import LABELS, DepartmentModel
from .normalize import normalize_text
from .training import TrainParams, train_model

__all__ = [
    "LABELS",
    "DepartmentModel",
    "TrainParams",
    "evaluate_model",
    "normalize_text",
    "read_labelled_csv",
    "train_model",
]
