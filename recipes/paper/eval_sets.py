"""The evaluation data, never trained on: NTREX-128 lines, SIB-200, STS17, STS-B, the dev slice."""

import dataclasses
import logging

import numpy as np

from keras_mpcl.evaluation import LabelledTexts
from keras_mpcl.evaluation import align_parallel
from keras_mpcl.evaluation import read_ntrex
from keras_mpcl.evaluation import read_sib200
from keras_mpcl.evaluation import read_sts17
from keras_mpcl.evaluation import read_stsb_multi_mt

from .settings import EVAL_LINES
from .settings import SEEN
from .settings import TRAIN_LINES
from .settings import UNSEEN

logger = logging.getLogger("reproduce_paper")


@dataclasses.dataclass
class EvalSets:
    seen: list
    unseen: list
    ntrex: dict
    sib_parallel: dict
    sib_train: tuple
    sib_test: dict
    sts17: dict
    stsb: dict
    dev: dict


def _sample(n_total, n, seed=0):
    """Sorted fixed subset of positions (the same for every arm)."""
    if not n or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


def read_dev(data_dir, dev_lines, seen):
    """`{language: texts}` of the last `dev_lines` training lines (chooses the best group size)."""
    if not dev_lines:
        return None
    cut = TRAIN_LINES[1] - dev_lines
    dev = read_ntrex(data_dir / "ntrex128", [SEEN[lang][0] for lang in SEEN],
                     lines=(cut, TRAIN_LINES[1]))
    back = {code[0]: lang for lang, code in SEEN.items()}
    return {back[c]: texts for c, texts in dev.items() if back[c] in seen}


def load_eval_sets(args):
    data = args.data_dir
    seen, unseen = list(args.eval_seen), list(UNSEEN)
    langs = seen + unseen
    code = {**SEEN, **UNSEEN}
    ntrex_raw = read_ntrex(data / "ntrex128", [code[lang][0] for lang in langs],
                           lines=EVAL_LINES)
    rows = _sample(EVAL_LINES[1] - EVAL_LINES[0], args.eval_ntrex)
    ntrex = {lang: [ntrex_raw[code[lang][0]][i] for i in rows] for lang in langs}

    sib = read_sib200(data / "sib200", "test", [code[lang][1] for lang in langs])
    sib = {lang: sib[code[lang][1]] for lang in langs}
    ids = [i for i in sib["en"].ids if all(i in set(sib[lang].ids) for lang in langs)]
    keep = {ids[j] for j in _sample(len(ids), args.eval_sib)}
    sib_test = {}
    for lang in langs:
        d = sib[lang]
        picked = [(t, y) for t, y, i in zip(d.texts, d.labels, d.ids) if i in keep]
        sib_test[lang] = ([t for t, _ in picked], [y for _, y in picked])
    aligned = align_parallel({lang: LabelledTexts(
        [t for t, i in zip(sib[lang].texts, sib[lang].ids) if i in keep],
        [y for y, i in zip(sib[lang].labels, sib[lang].ids) if i in keep],
        [i for i in sib[lang].ids if i in keep]) for lang in langs})
    en_train = read_sib200(data / "sib200", "train", ["eng_Latn"])["eng_Latn"]
    rows = _sample(len(en_train.texts), args.sib_train)
    sib_train = ([en_train.texts[i] for i in rows], [en_train.labels[i] for i in rows])

    sts17 = {}
    for key, (s1, s2, y) in read_sts17(data / "sts17").items():
        rows = _sample(len(y), args.sts17_pairs)
        sts17[key] = ([s1[i] for i in rows], [s2[i] for i in rows], [y[i] for i in rows])
    stsb = {}
    for lang, (s1, s2, y) in read_stsb_multi_mt(data / "stsb_multi_mt", langs).items():
        rows = _sample(len(y), args.stsb_pairs)
        stsb[lang] = ([s1[i] for i in rows], [s2[i] for i in rows], [y[i] for i in rows])
    sets = EvalSets(seen, unseen, ntrex, aligned, sib_train, sib_test, sts17, stsb,
                    read_dev(data, args.dev_lines, seen))
    logger.info(
        "evaluation: NTREX %d lines x %d langs, SIB-200 %d test x %d langs + %d English "
        "train, STS17 %s pairs, STS-B %s pairs (STS-B has no data for %s)",
        len(next(iter(ntrex.values()))), len(langs), len(aligned["en"]), len(langs),
        len(sib_train[0]), {k: len(v[2]) for k, v in sts17.items()},
        {k: len(v[2]) for k, v in stsb.items()}, sorted(set(langs) - set(stsb)),
    )
    return sets
