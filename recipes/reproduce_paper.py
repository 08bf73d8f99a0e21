"""MPCL vs single-positive CL vs sentence-transformers, on NTREX-128 (issue 7).

Trains all-MiniLM-L6-v2 (English-only pretraining) on NTREX-128 translation
groups of the 15 XNLI languages and compares, at equal optimisation steps and
equal sentences per batch:

- `cl`: conventional contrastive learning, English anchor + one translation,
  `MultiPositiveContrastiveLoss(anchors="first")`;
- `supcon-g{3,4,6}`: MPCL (`variant="supcon"`) with groups of 3, 4 and 6;
- `independent-gB`, `pooled-gB`: the other MPCL variants at the best group
  size `B` (chosen on a dev slice of NTREX lines that is not trained on);
- `st-mnrl`: sentence-transformers' `MultipleNegativesRankingLoss` (torch) on
  exactly the pairs of `cl`, with the same steps, batch, learning rate
  schedule, optimiser and temperature (scale = 1 / temperature);
- `untrained`: the MiniLM checkpoint itself, as a reference row.

Evaluation (never trained on): NTREX lines 1800..1996 many-to-many retrieval,
SIB-200 test many-to-many retrieval and English-to-X topic classification
transfer, STS17 and multilingual STS-B, each split into seen (training)
languages and unseen ones (Italian, Portuguese, Dutch, Polish).

Results go to `--output` incrementally: `runs.jsonl` (one line per finished
run, so partial results survive), then `results.md`, `results.json`,
`results.csv` and `results.png` / `loss.png`, rewritten after every run. A
run already in `runs.jsonl` with the same settings is skipped, so an
interrupted job resumes where it stopped.

The defaults are the CPU scale of the committed results in `recipes/results/`
(100 steps of 48 sentences, 3 seeds; 54 minutes on a 2-core CPU, see its README):

    KERAS_BACKEND=tensorflow python recipes/reproduce_paper.py

Full scale on a GPU:

    python recipes/reproduce_paper.py --steps 2000 --batch 144 --max-length 128 \
        --lr 5e-5 --dev-lines 100 --eval-seen all --eval-ntrex 0 --eval-sib 0 \
        --sib-train 0 --sts17-pairs 0 --stsb-pairs 0 --output recipes/results_full

Reference: Zhao et al., 2024, https://arxiv.org/abs/2309.08929
"""

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from keras import ops

from keras_mpcl.backend import reseed_host_generators
from keras_mpcl.data import (
    TranslationGroups,
    group_dataset,
)
from keras_mpcl.evaluation import (
    LabelledTexts,
    align_parallel,
    classification_transfer,
    multiparallel_retrieval,
    read_ntrex,
    read_sib200,
    read_sts17,
    read_stsb_multi_mt,
    sts,
)
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.models import (
    build_encoder,
    encode,
    offline_minilm_path,
)

logger = logging.getLogger("reproduce_paper")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUTPUT = REPO_ROOT / "recipes" / "results"

# XNLI-15 (ISO 639-1) -> NTREX-128 file code and SIB-200 folder. English is
# NTREX's original source file `newstest2019-src.eng.txt` ("eng"), of which all
# references are translations; Swahili is NTREX `swa` / SIB `swh_Latn`.
SEEN = {
    "ar": ("arb", "arb_Arab"), "bg": ("bul", "bul_Cyrl"), "de": ("deu", "deu_Latn"),
    "el": ("ell", "ell_Grek"), "en": ("eng", "eng_Latn"), "es": ("spa", "spa_Latn"),
    "fr": ("fra", "fra_Latn"), "hi": ("hin", "hin_Deva"), "ru": ("rus", "rus_Cyrl"),
    "sw": ("swa", "swh_Latn"), "th": ("tha", "tha_Thai"), "tr": ("tur", "tur_Latn"),
    "ur": ("urd", "urd_Arab"), "vi": ("vie", "vie_Latn"), "zh": ("zho-CN", "zho_Hans"),
}
UNSEEN = {
    "it": ("ita", "ita_Latn"), "pt": ("por", "por_Latn"),
    "nl": ("nld", "nld_Latn"), "pl": ("pol", "pol_Latn"),
}
NTREX_SRC = "newstest2019-src.eng.txt"
TRAIN_LINES = (0, 1800)
EVAL_LINES = (1800, 1997)
VARIANTS = ("supcon", "independent", "pooled")
METRICS = (
    ("ntrex_seen", "NTREX ret. seen"), ("ntrex_unseen", "NTREX ret. unseen"),
    ("sib_ret_seen", "SIB ret. seen"), ("sib_ret_unseen", "SIB ret. unseen"),
    ("sib_cls_seen", "SIB cls. seen"), ("sib_cls_unseen", "SIB cls. unseen"),
    ("sts17_seen", "STS17 seen"),
    ("stsb_seen", "STS-B seen"), ("stsb_unseen", "STS-B unseen"),
)
TINY_ENCODER = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
                "intermediate_dim": 32, "vocabulary_size": 300}


@dataclasses.dataclass(frozen=True)
class Arm:
    """One training configuration: loss, group size, anchors, trainer."""

    name: str
    group_size: int
    variant: str = "supcon"
    anchors: str = "all"
    trainer: str = "keras"  # "keras" or "sentence_transformers"


def cl_arm():
    return Arm("cl", 2, "supcon", "first")


def mpcl_arm(variant, group_size):
    return Arm(f"{variant}-g{group_size}", group_size, variant, "all")


def st_arm():
    return Arm("st-mnrl", 2, "mnrl", "first", "sentence_transformers")


# ---------------------------------------------------------------- arguments


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA,
                   help="folder with ntrex128/, sib200/, sts17/, stsb_multi_mt/")
    p.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT)
    p.add_argument("--encoder", default=None,
                   help="encoder folder (default: the offline all-MiniLM-L6-v2); "
                        "'tiny' builds a tiny random encoder (plumbing tests only)")
    p.add_argument("--steps", type=int, default=100, help="optimisation steps per run")
    p.add_argument("--batch", type=int, default=48,
                   help="sentences per batch; divisible by 2 and every group size")
    p.add_argument("--max-length", type=int, default=32, help="tokens per sentence")
    p.add_argument("--lr", type=float, default=5e-5, help="peak learning rate")
    p.add_argument("--warmup", type=float, default=0.1, help="warm-up fraction of steps")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--temperature", type=float, default=0.05)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--group-sizes", type=int, nargs="+", default=[3, 4, 6])
    p.add_argument("--best-group-size", type=int, default=None,
                   help="skip the dev selection and use this group size for the variants")
    p.add_argument("--arms", nargs="+", default=["all"],
                   help="subset of: untrained cl supcon st-mnrl variants (default all)")
    p.add_argument("--dev-lines", type=int, default=24,
                   help="last N training lines held out to pick the best group size")
    p.add_argument("--eval-seen", nargs="+", default=["en", "de", "ar", "zh"],
                   help="seen languages evaluated ('all' = the 15); unseen: it pt nl pl")
    p.add_argument("--eval-ntrex", type=int, default=64,
                   help="NTREX lines sampled from 1800..1996 (0 = all 197)")
    p.add_argument("--eval-sib", type=int, default=64,
                   help="SIB-200 test sentences sampled (0 = all 204)")
    p.add_argument("--sib-train", type=int, default=70,
                   help="English SIB-200 train sentences for the classifier (0 = all 701)")
    p.add_argument("--sts17-pairs", type=int, default=32, help="pairs per STS17 track (0 = all)")
    p.add_argument("--stsb-pairs", type=int, default=32, help="pairs per STS-B language (0 = all)")
    p.add_argument("--encode-batch", type=int, default=64)
    p.add_argument("--mpcl-groups", choices=["with-english", "random"], default="with-english",
                   help="MPCL group members: English plus random translations (like the "
                        "`cl` pairs, so every arm sees English equally often), or random "
                        "training languages")
    args = p.parse_args(argv)
    for g in args.group_sizes + [2] + ([args.best_group_size] if args.best_group_size else []):
        if g < 2 or args.batch % g:
            p.error(f"`--batch` should be divisible by every group size. Received: "
                    f"`--batch` = {args.batch}, group size {g}")
    if args.steps < 1:
        p.error(f"`--steps` should be a positive int. Received: `--steps` = {args.steps}")
    known = {"all", "untrained", "cl", "supcon", "st-mnrl", "variants"}
    unknown = sorted(set(args.arms) - known)
    if unknown:
        p.error(f"Unknown arms {unknown}; choose from {sorted(known)}")
    if args.eval_seen == ["all"]:
        args.eval_seen = list(SEEN)
    bad = sorted(set(args.eval_seen) - set(SEEN))
    if bad:
        p.error(f"`--eval-seen` languages {bad} are not training languages {sorted(SEEN)}")
    return args


def settings_key(args):
    """Hash of everything that changes a run's numbers (to resume safely)."""
    fields = {k: v for k, v in vars(args).items() if k not in ("output", "arms", "seeds",
                                                               "best_group_size", "data_dir",
                                                               "encode_batch")}
    fields = {k: str(v) for k, v in fields.items()}
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- data


def ntrex_files(ntrex_dir, languages):
    files = {}
    for lang in languages:
        code = {**SEEN, **UNSEEN}[lang][0]
        name = NTREX_SRC if code == "eng" else f"newstest2019-ref.{code}.txt"
        files[lang] = ntrex_dir / name
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"NTREX files not found: {missing}")
    return files


def load_training_groups(data_dir, dev_lines):
    """NTREX lines 0..1799 in the 15 XNLI languages, minus a dev tail."""
    groups = TranslationGroups.from_aligned_files(ntrex_files(data_dir / "ntrex128", SEEN))
    keys = np.asarray(groups.keys, dtype=np.int64)  # 1-based line numbers
    cut = TRAIN_LINES[1] - dev_lines
    train = groups.select_groups((keys >= TRAIN_LINES[0] + 1) & (keys <= cut))
    dev = read_ntrex(data_dir / "ntrex128", [SEEN[lang][0] for lang in SEEN],
                     lines=(cut, TRAIN_LINES[1])) if dev_lines else None
    logger.info("training groups: %d (lines %d..%d), dev lines %d..%d",
                len(train), TRAIN_LINES[0], cut - 1, cut, TRAIN_LINES[1] - 1)
    return train, dev


def _sample(n_total, n, seed=0):
    """Sorted fixed subset of positions (the same for every arm)."""
    if not n or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


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


def load_eval_sets(args, dev):
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
    dev_sets = None
    if dev is not None:
        back = {c[0]: lang for lang, c in SEEN.items()}
        dev_sets = {back[c]: texts for c, texts in dev.items() if back[c] in seen}
    sets = EvalSets(seen, unseen, ntrex, aligned, sib_train, sib_test, sts17, stsb, dev_sets)
    logger.info(
        "evaluation: NTREX %d lines x %d langs, SIB-200 %d test x %d langs + %d English "
        "train, STS17 %s pairs, STS-B %s pairs (STS-B has no data for %s)",
        len(rows_of(ntrex)), len(langs), len(aligned["en"]), len(langs), len(sib_train[0]),
        {k: len(v[2]) for k, v in sts17.items()}, {k: len(v[2]) for k, v in stsb.items()},
        sorted(set(langs) - set(stsb)),
    )
    return sets


def rows_of(texts):
    return next(iter(texts.values()))


# ---------------------------------------------------------------- evaluation


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


# ---------------------------------------------------------------- training


class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup` steps, then linear decay to 0 at `total`."""

    def __init__(self, peak, warmup, total):
        self.peak, self.warmup, self.total = float(peak), int(warmup), int(total)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup, 1)
        decay = self.peak * ops.maximum(0.0, (self.total - step) / max(self.total - self.warmup, 1))
        return ops.where(step < self.warmup, warm, decay)

    def factor(self, step):
        """The same schedule in Python, relative to `peak` (for torch's LambdaLR)."""
        if step < self.warmup:
            return (step + 1.0) / max(self.warmup, 1)
        return max(0.0, (self.total - step) / max(self.total - self.warmup, 1))

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "total": self.total}


def make_schedule(args):
    return WarmupLinearDecay(args.lr, round(args.warmup * args.steps), args.steps)


def batches(train, arm, args, seed):
    """The `tf.data` batches of an arm; `cl` and `st-mnrl` get identical pairs."""
    return group_dataset(
        train, groups_per_batch=args.batch // arm.group_size, group_size=arm.group_size,
        seed=seed, languages=list(SEEN), sampling="random",
        anchor="en" if arm.anchors == "first" or args.mpcl_groups == "with-english" else None,
        epochs=None, remainder="drop",
    )


class StepLosses(keras.callbacks.Callback):
    """Per-step losses recovered from Keras' running mean of the epoch."""

    def __init__(self):
        super().__init__()
        self.losses, self._previous = [], 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        self.losses.append(mean * (batch + 1) - self._previous * batch)
        self._previous = mean


class KerasTrainer:
    """One compiled encoder per loss configuration, reset to the checkpoint per run.

    Reusing the compiled model avoids re-tracing the train step for every run,
    which costs more than a short run itself on a small CPU.
    """

    def __init__(self, args, texts_for_tiny):
        self.args = args
        self.texts_for_tiny = texts_for_tiny
        self.models = {}
        self.initial = None

    def build(self):
        if self.args.encoder == "tiny":
            keras.utils.set_random_seed(1234)  # same random "checkpoint" every build
            return build_encoder(TINY_ENCODER, texts=self.texts_for_tiny,
                                 max_length=self.args.max_length)
        return build_encoder(self.args.encoder or offline_minilm_path(),
                             max_length=self.args.max_length)

    def model_for(self, arm):
        key = (arm.variant, arm.anchors)
        if key not in self.models:
            model = self.build()
            if self.initial is None:
                self.initial = model.get_weights()
            model.compile(
                optimizer=keras.optimizers.AdamW(
                    make_schedule(self.args), weight_decay=self.args.weight_decay,
                    epsilon=1e-8),
                loss=MultiPositiveContrastiveLoss(
                    temperature=self.args.temperature, variant=arm.variant,
                    anchors=arm.anchors),
            )
            self.models[key] = model
        return self.models[key]

    def reference(self):
        return self.model_for(cl_arm())

    def train(self, arm, train, seed):
        model = self.model_for(arm)
        model.set_weights(self.initial)
        for variable in model.optimizer.variables:  # fresh Adam moments and step count
            variable.assign(ops.zeros(variable.shape, variable.dtype))
        # Not keras.utils.set_random_seed: tf.random.set_seed would free the
        # SentencePiece resources of an XLM-R encoder's tokenizer.
        reseed_host_generators(seed)
        losses = StepLosses()
        model.fit(batches(train, arm, self.args, seed), steps_per_epoch=self.args.steps,
                  epochs=1, verbose=0, callbacks=[losses])
        return (lambda texts: encode(model, texts, batch_size=self.args.encode_batch)), losses.losses


def train_sentence_transformers(arm, train, args, seed):
    """MultipleNegativesRankingLoss on the `cl` pairs, same steps/batch/schedule."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import (
        MultipleNegativesRankingLoss,
    )

    torch.manual_seed(seed)
    model = SentenceTransformer(str(args.encoder or offline_minilm_path()), device="cpu")
    model.max_seq_length = args.max_length
    loss_fn = MultipleNegativesRankingLoss(model, scale=1.0 / args.temperature)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr,
                                  weight_decay=args.weight_decay, eps=1e-8)
    schedule = make_schedule(args)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor)
    model.train()
    losses = []
    data = iter(batches(train, cl_arm(), args, seed))
    for _ in range(args.steps):
        texts, ids = next(data)
        texts = [t.decode("utf-8") for t in texts.numpy()]
        ids = ids.numpy()
        if (ids < 0).any():
            raise RuntimeError("padding rows in a pair batch; NTREX groups should be complete")
        anchors, positives = texts[0::2], texts[1::2]
        features = [model.tokenize(anchors), model.tokenize(positives)]
        loss = loss_fn(features, None)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    model.eval()

    def encode_fn(texts):
        return model.encode(list(texts), batch_size=args.encode_batch,
                            normalize_embeddings=True, convert_to_numpy=True)

    return encode_fn, losses


# ---------------------------------------------------------------- results


def read_runs(path, key):
    runs = []
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                if run.get("settings") == key:
                    runs.append(run)
    return runs


def summarize(runs):
    """Mean, sample standard deviation and count of each metric per arm."""
    by_arm = {}
    for run in runs:
        by_arm.setdefault(run["arm"], []).append(run)
    summary = {}
    for arm, items in by_arm.items():
        row = {"seeds": sorted(r["seed"] for r in items)}
        for key, _ in METRICS + (("dev_ntrex", ""),):
            values = [r["metrics"][key] for r in items
                      if key in r["metrics"] and not math.isnan(r["metrics"][key])]
            if values:
                row[key] = {"mean": float(np.mean(values)),
                            "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                            "n": len(values)}
        row["train_seconds"] = float(np.mean([r["train_seconds"] for r in items]))
        summary[arm] = row
    return summary


def arm_order(summary):
    first = ["untrained", "cl", "st-mnrl"]
    rest = sorted(a for a in summary if a not in first)
    return [a for a in first if a in summary] + rest


def write_tables(summary, args, out, best_group_size):
    order = arm_order(summary)
    head = "| arm | seeds | " + " | ".join(label for _, label in METRICS) + " |"
    lines = [head, "|" + "---|" * (len(METRICS) + 2)]
    csv_lines = ["arm,seeds," + ",".join(f"{k}_mean,{k}_std" for k, _ in METRICS)]
    for arm in order:
        row = summary[arm]
        cells, csv_cells = [], []
        for key, _ in METRICS:
            if key in row:
                m, s = 100 * row[key]["mean"], 100 * row[key]["std"]
                cells.append(f"{m:.1f}" if arm == "untrained" else f"{m:.1f} ± {s:.1f}")
                csv_cells.append(f"{m:.3f},{s:.3f}")
            else:
                cells.append("—")
                csv_cells.append(",")
        lines.append(f"| {arm} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
        csv_lines.append(f"{arm},{len(row['seeds'])}," + ",".join(csv_cells))
    note = (
        f"\nScores x100, mean ± sample std over seeds. Retrieval: top-1 accuracy, "
        f"many-to-many; seen = pairs of training languages, unseen = pairs with "
        f"it/pt/nl/pl on one side. SIB cls.: accuracy of a logistic regression "
        f"trained on English. STS: Spearman x100. Settings: {args.steps} steps, "
        f"{args.batch} sentences per batch, max length {args.max_length}, lr {args.lr}, "
        f"temperature {args.temperature}. Best group size (dev NTREX retrieval): "
        f"{best_group_size}.\n"
    )
    (out / "results.md").write_text("\n".join(lines) + "\n" + note)
    (out / "results.csv").write_text("\n".join(csv_lines) + "\n")
    payload = {"settings": {k: str(v) for k, v in vars(args).items()},
               "best_group_size": best_group_size, "arms": summary}
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True))


def write_plots(summary, runs, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = arm_order(summary)
    fig, axes = plt.subplots(3, 3, figsize=(14, 10))
    for ax, (key, label) in zip(axes.flat, METRICS):
        means = [100 * summary[a][key]["mean"] if key in summary[a] else np.nan for a in order]
        stds = [100 * summary[a][key]["std"] if key in summary[a] else 0 for a in order]
        colors = ["grey" if a == "untrained" else "tab:orange" if a in ("cl", "st-mnrl")
                  else "tab:blue" for a in order]
        ax.bar(range(len(order)), means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        finite = [m for m in means if not np.isnan(m)]
        if finite:
            ax.set_ylim(min(finite) - 5, max(finite) + 5)
    fig.suptitle("MPCL (blue) vs single-positive CL / sentence-transformers (orange), "
                 "untrained MiniLM (grey); mean ± std over seeds")
    fig.tight_layout()
    fig.savefig(out / "results.png", dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm in order:
        curves = [r["losses"] for r in runs if r["arm"] == arm and r.get("losses")]
        if curves:
            length = min(len(c) for c in curves)
            ax.plot(np.mean([c[:length] for c in curves], axis=0), label=arm)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (mean over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------- driver


def best_group_size_from(runs, group_sizes, seeds):
    """Group size of the supcon arm with the best mean dev retrieval over `seeds`."""
    scores = {}
    for g in group_sizes:
        values = [r["metrics"].get("dev_ntrex") for r in runs
                  if r["arm"] == f"supcon-g{g}" and r["seed"] in seeds]
        values = [v for v in values if v is not None]
        if len(values) < len(seeds):
            return None
        scores[g] = float(np.mean(values))
    logger.info("dev NTREX retrieval of supcon by group size: %s", scores)
    return max(scores, key=scores.get)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stdout)
    for name in ("keras_mpcl.evaluation", "keras_mpcl.data"):
        logging.getLogger(name).setLevel(logging.WARNING)
    args.output.mkdir(parents=True, exist_ok=True)
    runs_path = args.output / "runs.jsonl"
    key = settings_key(args)
    logger.info("settings %s: %s", key, vars(args))
    train, dev = load_training_groups(args.data_dir, args.dev_lines)
    sets = load_eval_sets(args, dev)
    tiny_texts = [t for lang in SEEN for t in train.texts(lang)[:50]]
    trainer = KerasTrainer(args, tiny_texts)
    wanted = set(args.arms)
    want = lambda name: "all" in wanted or name in wanted

    def done(arm, seed):
        return any(r["arm"] == arm and r["seed"] == seed for r in read_runs(runs_path, key))

    def record(run):
        with runs_path.open("a") as f:
            f.write(json.dumps(run) + "\n")
        runs = read_runs(runs_path, key)
        best = args.best_group_size or best_group_size_from(runs, args.group_sizes, args.seeds[:1])
        summary = summarize(runs)
        write_tables(summary, args, args.output, best)
        write_plots(summary, runs, args.output)
        return best

    if want("untrained") and not done("untrained", 0):
        logger.info("evaluating the untrained encoder")
        model = trainer.reference()
        model.set_weights(trainer.initial)
        metrics, details = evaluate(
            lambda texts: encode(model, texts, batch_size=args.encode_batch), sets, True)
        record({"arm": "untrained", "seed": 0, "settings": key, "metrics": metrics,
                "details": details, "train_seconds": 0.0, "losses": []})
        logger.info("untrained: %s", metrics)

    def run(arm, seed):
        if done(arm.name, seed):
            logger.info("%s seed %d: already in %s, skipped", arm.name, seed, runs_path)
            return
        if arm.trainer == "sentence_transformers" and args.encoder == "tiny":
            logger.warning("%s seed %d: skipped, sentence-transformers needs a Hugging "
                           "Face folder, not the tiny random encoder", arm.name, seed)
            return
        logger.info("%s seed %d: training %d steps of %d sentences", arm.name, seed,
                    args.steps, args.batch)
        t0 = time.time()
        if arm.trainer == "keras":
            encode_fn, losses = trainer.train(arm, train, seed)
        else:
            encode_fn, losses = train_sentence_transformers(arm, train, args, seed)
        train_seconds = time.time() - t0
        with_dev = arm.variant == "supcon" and arm.anchors == "all"
        metrics, details = evaluate(encode_fn, sets, with_dev)
        record({"arm": arm.name, "seed": seed, "settings": key, "metrics": metrics,
                "details": details, "train_seconds": train_seconds, "losses": losses,
                "group_size": arm.group_size, "variant": arm.variant})
        logger.info("%s seed %d: train %.0fs, eval %.0fs (%d sentences), loss %.3f -> %.3f, %s",
                    arm.name, seed, train_seconds, details["eval_seconds"],
                    details["sentences_encoded"], losses[0], losses[-1],
                    {k: round(v, 4) for k, v in metrics.items()})

    # Seed-major, so that every arm has results early and partial runs stay
    # balanced. The best group size is chosen once, on the dev retrieval of
    # the first seed's supcon runs, and stored so that a resumed job keeps it.
    best_path = args.output / f"best_group_size.{key}.json"
    best = args.best_group_size
    if best is None and best_path.is_file():
        best = json.loads(best_path.read_text())["best_group_size"]
    for seed in args.seeds:
        if want("cl"):
            run(cl_arm(), seed)
        if want("supcon"):
            for g in args.group_sizes:
                run(mpcl_arm("supcon", g), seed)
        if want("st-mnrl"):
            run(st_arm(), seed)
        if not want("variants"):
            continue
        if best is None:
            best = best_group_size_from(read_runs(runs_path, key), args.group_sizes, [seed])
            if best is None:
                logger.warning("variants skipped: no best group size (run the supcon "
                               "arms first, or pass --best-group-size)")
                continue
            best_path.write_text(json.dumps({"best_group_size": best, "chosen_on_seed": seed}))
            logger.info("best group size (dev NTREX retrieval, seed %d): %d", seed, best)
        if best not in args.group_sizes:  # supcon at B belongs to the comparison
            run(mpcl_arm("supcon", best), seed)
        for variant in ("independent", "pooled"):
            run(mpcl_arm(variant, best), seed)
    runs = read_runs(runs_path, key)
    logger.info("done: %d runs in %s; table in %s", len(runs), runs_path,
                args.output / "results.md")
    return summarize(runs)


if __name__ == "__main__":
    main()
