"""Evaluation of sentence encoders: retrieval, mining, STS, classification, reports.

Everything here runs on NumPy except `EvaluationCallback`, a Keras callback,
which is imported on first use (PEP 562) so that `keras-mpcl --help` and
NumPy-only evaluation start without loading Keras and TensorFlow.
"""

from keras_mpcl.data.readers import read_ntrex
from keras_mpcl.evaluation.classification import LabelledTexts
from keras_mpcl.evaluation.classification import align_parallel
from keras_mpcl.evaluation.classification import classification_transfer
from keras_mpcl.evaluation.classification import read_sib200
from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.encoding import l2_normalize
from keras_mpcl.evaluation.mining import MiningSet
from keras_mpcl.evaluation.mining import best_threshold
from keras_mpcl.evaluation.mining import bitext_mining
from keras_mpcl.evaluation.mining import margin_score
from keras_mpcl.evaluation.mining import mine
from keras_mpcl.evaluation.mining import mine_from_neighbours
from keras_mpcl.evaluation.mining import precision_recall_f1
from keras_mpcl.evaluation.mining import read_bucc
from keras_mpcl.evaluation.mteb import MTEBEncoder
from keras_mpcl.evaluation.multiparallel import multiparallel_retrieval
from keras_mpcl.evaluation.report import TASKS
from keras_mpcl.evaluation.report import evaluate_tasks
from keras_mpcl.evaluation.report import prepare_tasks
from keras_mpcl.evaluation.report import write_report
from keras_mpcl.evaluation.retrieval import bitext_retrieval
from keras_mpcl.evaluation.retrieval import read_tatoeba
from keras_mpcl.evaluation.retrieval import tatoeba
from keras_mpcl.evaluation.search import mutual_topk_similarity
from keras_mpcl.evaluation.search import topk_similarity
from keras_mpcl.evaluation.sts import read_sts17
from keras_mpcl.evaluation.sts import read_stsb_multi_mt
from keras_mpcl.evaluation.sts import spearman
from keras_mpcl.evaluation.sts import sts


def __getattr__(name):
    if name == "EvaluationCallback":
        from keras_mpcl.evaluation.callback import EvaluationCallback

        globals()[name] = EvaluationCallback
        return EvaluationCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EvaluationCallback",
    "LabelledTexts",
    "MTEBEncoder",
    "MiningSet",
    "TASKS",
    "align_parallel",
    "as_encode_fn",
    "best_threshold",
    "bitext_mining",
    "bitext_retrieval",
    "classification_transfer",
    "evaluate_tasks",
    "l2_normalize",
    "margin_score",
    "mine",
    "mine_from_neighbours",
    "multiparallel_retrieval",
    "mutual_topk_similarity",
    "precision_recall_f1",
    "prepare_tasks",
    "read_bucc",
    "read_ntrex",
    "read_sib200",
    "read_sts17",
    "read_stsb_multi_mt",
    "read_tatoeba",
    "spearman",
    "sts",
    "tatoeba",
    "topk_similarity",
    "write_report",
]
