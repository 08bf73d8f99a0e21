"""Every evaluation task for one encoder, seen and unseen languages apart."""

import math
import time

import numpy as np

from keras_mpcl.evaluation import classification_transfer
from keras_mpcl.evaluation import multiparallel_retrieval
from keras_mpcl.evaluation import sts


class CachedEncoder:
    """Encode callable that embeds each distinct text once per run."""

    def __init__(self, fn):
        self.fn = fn
        self.cache = {}
        self.encoded = 0

    def __call__(self, texts):
        texts = list(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            emb = np.asarray(self.fn(todo), dtype="float32")
            self.cache.update(zip(todo, emb))
            self.encoded += len(todo)
        if not texts:
            return np.zeros((0, 1), "float32")
        return np.stack([self.cache[t] for t in texts])


def split_pairs(result, seen):
    """Mean retrieval accuracy over seen<->seen pairs and pairs with an unseen side."""
    langs = result["languages"]
    m = np.asarray(result["matrix"], dtype=float)
    is_seen = np.array([lang in seen for lang in langs])
    off = ~np.eye(len(langs), dtype=bool)
    both = off & is_seen[:, None] & is_seen[None, :]
    other = off & ~(is_seen[:, None] & is_seen[None, :])
    return float(np.nanmean(m[both])), float(np.nanmean(m[other])) if other.any() else math.nan


def _mean(values):
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def all_texts(sets, with_dev):
    texts = [t for v in sets.ntrex.values() for t in v]
    texts += [t for v in sets.sib_parallel.values() for t in v]
    texts += list(sets.sib_train[0]) + [t for v in sets.sib_test.values() for t in v[0]]
    for s1, s2, _ in list(sets.sts17.values()) + list(sets.stsb.values()):
        texts += list(s1) + list(s2)
    if with_dev and sets.dev:
        texts += [t for v in sets.dev.values() for t in v]
    return list(dict.fromkeys(texts))


def evaluate(encode_fn, sets, with_dev=False):
    """All tasks for one encoder; returns (summary metrics, details)."""
    fn = CachedEncoder(encode_fn)
    details = {}
    t0 = time.time()
    # One encoding pass over every evaluation text: each separate `predict`
    # call costs a pipeline set-up (and often a re-trace), which dominates
    # on a small CPU.
    fn(all_texts(sets, with_dev))
    r = multiparallel_retrieval(fn, sets.ntrex, languages=sets.seen + sets.unseen)
    ntrex_seen, ntrex_unseen = split_pairs(r, sets.seen)
    details["ntrex"] = r["per_language"]
    r = multiparallel_retrieval(fn, sets.sib_parallel, languages=sets.seen + sets.unseen)
    sib_seen, sib_unseen = split_pairs(r, sets.seen)
    details["sib_retrieval"] = r["per_language"]
    c = classification_transfer(fn, sets.sib_train, sets.sib_test)
    details["sib_classification"] = c["per_language"]
    sts17_scores = {k: sts(fn, *v)["spearman"] for k, v in sets.sts17.items()}
    stsb_scores = {k: sts(fn, *v)["spearman"] for k, v in sets.stsb.items()}
    details["sts17"], details["stsb"] = sts17_scores, stsb_scores
    metrics = {
        "ntrex_seen": ntrex_seen, "ntrex_unseen": ntrex_unseen,
        "sib_ret_seen": sib_seen, "sib_ret_unseen": sib_unseen,
        # English is the classifier's training language: transfer is to the others.
        "sib_cls_seen": _mean([v for k, v in c["per_language"].items()
                               if k in sets.seen and k != "en"]),
        "sib_cls_unseen": _mean([v for k, v in c["per_language"].items() if k in sets.unseen]),
        # Every STS17 track (ar, en, es, tr) uses training languages only.
        "sts17_seen": _mean(list(sts17_scores.values())),
        "stsb_seen": _mean([v for k, v in stsb_scores.items() if k in sets.seen]),
        "stsb_unseen": _mean([v for k, v in stsb_scores.items() if k in sets.unseen]),
    }
    if with_dev and sets.dev:
        metrics["dev_ntrex"] = multiparallel_retrieval(fn, sets.dev)["mean"]
    details["sentences_encoded"] = fn.encoded
    details["eval_seconds"] = time.time() - t0
    return metrics, details
