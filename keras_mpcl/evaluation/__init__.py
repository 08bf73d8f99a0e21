"""Evaluation of sentence encoders: retrieval, mining, STS, classification, reports.

Names are imported on first use (PEP 562): `keras-mpcl --help` and the
NumPy-only parts then start without loading Keras and TensorFlow.
"""

import importlib

_EXPORTS = {
    "EvaluationCallback": "keras_mpcl.evaluation.callback",
    "LabelledTexts": "keras_mpcl.evaluation.classification",
    "align_parallel": "keras_mpcl.evaluation.classification",
    "classification_transfer": "keras_mpcl.evaluation.classification",
    "read_sib200": "keras_mpcl.evaluation.classification",
    "as_encode_fn": "keras_mpcl.evaluation.encoding",
    "l2_normalize": "keras_mpcl.evaluation.encoding",
    "MiningSet": "keras_mpcl.evaluation.mining",
    "best_threshold": "keras_mpcl.evaluation.mining",
    "bitext_mining": "keras_mpcl.evaluation.mining",
    "margin_score": "keras_mpcl.evaluation.mining",
    "mine": "keras_mpcl.evaluation.mining",
    "mine_from_neighbours": "keras_mpcl.evaluation.mining",
    "precision_recall_f1": "keras_mpcl.evaluation.mining",
    "read_bucc": "keras_mpcl.evaluation.mining",
    "MTEBEncoder": "keras_mpcl.evaluation.mteb",
    "multiparallel_retrieval": "keras_mpcl.evaluation.multiparallel",
    "read_ntrex": "keras_mpcl.evaluation.multiparallel",
    "TASKS": "keras_mpcl.evaluation.report",
    "evaluate_tasks": "keras_mpcl.evaluation.report",
    "prepare_tasks": "keras_mpcl.evaluation.report",
    "write_report": "keras_mpcl.evaluation.report",
    "bitext_retrieval": "keras_mpcl.evaluation.retrieval",
    "read_tatoeba": "keras_mpcl.evaluation.retrieval",
    "tatoeba": "keras_mpcl.evaluation.retrieval",
    "mutual_topk_similarity": "keras_mpcl.evaluation.search",
    "topk_similarity": "keras_mpcl.evaluation.search",
    "read_sts17": "keras_mpcl.evaluation.sts",
    "read_stsb_multi_mt": "keras_mpcl.evaluation.sts",
    "spearman": "keras_mpcl.evaluation.sts",
    "sts": "keras_mpcl.evaluation.sts",
}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))


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
