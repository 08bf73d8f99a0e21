"""The experiment's fixed choices (languages, lines, metrics), its arms and its arguments."""

import argparse
import dataclasses
import hashlib
import json
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
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
TRAIN_LINES = (0, 1800)
EVAL_LINES = (1800, 1997)
METRICS = (
    ("ntrex_seen", "NTREX ret. seen"), ("ntrex_unseen", "NTREX ret. unseen"),
    ("sib_ret_seen", "SIB ret. seen"), ("sib_ret_unseen", "SIB ret. unseen"),
    ("sib_cls_seen", "SIB cls. seen"), ("sib_cls_unseen", "SIB cls. unseen"),
    ("sts17_seen", "STS17 seen"),
    ("stsb_seen", "STS-B seen"), ("stsb_unseen", "STS-B unseen"),
)
TINY_ENCODER = {"hidden_dim": 16, "num_layers": 1, "num_heads": 2,
                "intermediate_dim": 32, "vocabulary_size": 300}
# Part of every run's settings key: runs of the recipe's own training loop
# (before issue #12) are not mixed with runs of `keras_mpcl.training.train`.
TRAINING_PATH = "keras_mpcl.training.train, a fresh encoder per run"


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


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="MPCL vs single-positive CL vs sentence-transformers, on NTREX-128.")
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
    fields["training_path"] = TRAINING_PATH
    return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]
