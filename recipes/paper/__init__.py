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

Every Keras arm is a `keras_mpcl.training.train` run on a fresh, seeded
encoder (`trainers.py`), so a run's numbers depend on its arm and seed only,
not on the runs before it; evaluation uses `keras_mpcl.evaluation`.

Results go to `--output` incrementally: `runs.jsonl` (one line per finished
run, so partial results survive), then `results.md`, `results.json`,
`results.csv` and `results.png` / `loss.png`, rewritten after every run. A
run already in `runs.jsonl` with the same settings is skipped, so an
interrupted job resumes where it stopped.

The defaults are the CPU scale of the committed results in `recipes/results/`
(100 steps of 48 sentences, 3 seeds; see its README):

    KERAS_BACKEND=tensorflow python recipes/reproduce_paper.py

Full scale on a GPU:

    python recipes/reproduce_paper.py --steps 2000 --batch 144 --max-length 128 \
        --lr 5e-5 --dev-lines 100 --eval-seen all --eval-ntrex 0 --eval-sib 0 \
        --sib-train 0 --sts17-pairs 0 --stsb-pairs 0 --output recipes/results_full

Reference: Zhao et al., 2024, https://arxiv.org/abs/2309.08929

Modules: `settings` (languages, lines, arms, arguments), `eval_sets` (the
evaluation data), `scoring` (every task for one encoder), `trainers` (one
arm and seed), `results` (tables and plots), `driver` (`main`).
"""

from .driver import main
from .results import summarize
from .results import write_tables
from .scoring import evaluate
from .scoring import split_pairs
from .settings import METRICS
from .settings import parse_args
from .trainers import run_config

__all__ = [
    "METRICS",
    "evaluate",
    "main",
    "parse_args",
    "run_config",
    "split_pairs",
    "summarize",
    "write_tables",
]
