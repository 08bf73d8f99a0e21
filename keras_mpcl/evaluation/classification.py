"""Cross-lingual topic classification transfer (SIB-200) and the SIB-200 reader."""

from __future__ import annotations

import csv
import dataclasses
import logging
import pathlib
from typing import TYPE_CHECKING

import numpy as np

from keras_mpcl.evaluation.encoding import as_encode_fn
from keras_mpcl.evaluation.encoding import l2_normalize
from keras_mpcl.validation import check_choice
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from keras_mpcl.typing import EncoderLike, PathLike

logger = logging.getLogger(__name__)

CLASSIFIERS = ("logistic", "knn")
SIB200_SPLITS = ("train", "dev", "test")


@dataclasses.dataclass
class LabelledTexts:
    """Texts with their labels and ids (rows with equal ids are translations).

    Args:
        texts: list of str.
        labels: list of str or int labels.
        ids: list of ids, one per text. Defaults to positions.
    """

    texts: list
    labels: list
    ids: list | None = None

    def __post_init__(self):
        if self.ids is None:
            self.ids = list(range(len(self.texts)))
        if not len(self.texts) == len(self.labels) == len(self.ids):
            raise ValueError(
                "`texts`, `labels` and `ids` should have the same length. Received: "
                f"{len(self.texts)}, {len(self.labels)}, {len(self.ids)}"
            )


def _as_labelled(data, name):
    if isinstance(data, LabelledTexts):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return LabelledTexts(list(data[0]), list(data[1]))
    raise TypeError(
        f"`{name}` should be a `LabelledTexts` or a `(texts, labels)` tuple. "
        f"Received: {type(data).__name__}"
    )


def _make_classifier(classifier, n_neighbors, seed):
    if classifier == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, random_state=seed)
    from sklearn.neighbors import KNeighborsClassifier

    # Embeddings are L2-normalised, so Euclidean neighbours are cosine ones.
    return KNeighborsClassifier(n_neighbors=n_neighbors)


def classification_transfer(
    encoder: EncoderLike,
    train: LabelledTexts | tuple[Sequence[str], Sequence[str | int]],
    test: Mapping[str, LabelledTexts | tuple[Sequence[str], Sequence[str | int]]],
    classifier: str = "logistic",
    n_neighbors: int = 5,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit a classifier on one language's embeddings, test it on every language.

    Texts are embedded and L2-normalised; a logistic regression (or a k-NN
    classifier) is fitted on `train` and its accuracy measured on each test
    language. This is zero-shot cross-lingual transfer as in MTOP / SIB-200
    evaluations. Blank test texts stay in (the encoder sees an empty string)
    and are counted in `num_blank`.

    Args:
        encoder: a keras-hub `TextEmbedder` or an `encode` callable.
        train: `LabelledTexts` or `(texts, labels)`, usually English.
        test: dict `{language: LabelledTexts or (texts, labels)}`.
        classifier: str. `"logistic"` (scikit-learn `LogisticRegression`) or
            `"knn"` (`KNeighborsClassifier`). Defaults to `"logistic"`.
        n_neighbors: int. Neighbours of `"knn"`. Defaults to `5`.
        batch_size: int. Encoding batch size. Defaults to `32`.
        seed: int. Random state of the logistic regression. Defaults to `0`.

    Returns:
        dict with `per_language` (`{language: accuracy in [0, 1]}`), `mean`,
        `num_train` and `num_blank` (`{language: count}`).

    Examples:

    >>> import numpy as np
    >>> def encode(texts):  # the topic word decides the direction
    ...     return np.array([["ball" in t or "balle" in t, "vote" in t]
    ...                      for t in texts], "float32")
    >>> train = (["a ball", "the ball", "a vote", "my vote"],
    ...          ["sport", "sport", "politics", "politics"])
    >>> test = {"fra": (["une balle", "un vote"], ["sport", "politics"]),
    ...         "xxx": (["un vote", "un vote"], ["sport", "politics"])}
    >>> result = classification_transfer(encode, train, test, "knn", n_neighbors=1)
    >>> result["per_language"]
    {'fra': 1.0, 'xxx': 0.5}
    """
    check_choice("classifier", classifier, CLASSIFIERS)
    check_int("n_neighbors", n_neighbors)
    train = _as_labelled(train, "train")
    if len(set(train.labels)) < 2:
        raise ValueError(
            "`train` should hold at least two different labels. "
            f"Received: {sorted(set(map(str, train.labels)))}"
        )
    if not test:
        raise ValueError("`test` should map at least one language to labelled texts")
    encode = as_encode_fn(encoder, batch_size=batch_size)
    model = _make_classifier(classifier, min(n_neighbors, len(train.texts)), seed)
    model.fit(l2_normalize(encode(train.texts)), np.asarray(train.labels))
    per_language, num_blank = {}, {}
    for lang, data in test.items():
        data = _as_labelled(data, f"test[{lang!r}]")
        num_blank[lang] = sum(1 for t in data.texts if not t.strip())
        if not data.texts:
            per_language[lang] = float("nan")
            continue
        predicted = model.predict(l2_normalize(encode(data.texts)))
        per_language[lang] = float(np.mean(predicted == np.asarray(data.labels)))
        logger.info("classification %s: %.4f", lang, per_language[lang])
    values = [v for v in per_language.values() if not np.isnan(v)]
    return {
        "per_language": per_language,
        "mean": float(np.mean(values)) if values else float("nan"),
        "num_train": len(train.texts),
        "num_blank": num_blank,
    }


def read_sib200(
    directory: PathLike, split: str = "test", languages: Iterable[str] | None = None
) -> dict[str, LabelledTexts]:
    """Reads SIB-200 `<lang>/<split>.tsv` files (`index_id<TAB>category<TAB>text`).

    Args:
        directory: str or path-like, the `sib200` folder.
        split: str. `"train"`, `"dev"` or `"test"`. Defaults to `"test"`.
        languages: optional iterable of FLORES-200 codes (`"deu_Latn"`);
            a bare ISO code (`"deu"`) selects every script of that language.
            Defaults to `None` (every language folder).

    Returns:
        dict `{language: LabelledTexts}` sorted by language, `ids` being the
        `index_id`s (equal ids are translations across languages).
    """
    check_choice("split", split, SIB200_SPLITS)
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"SIB-200 directory not found: {directory}")
    available = sorted(
        p.name for p in directory.iterdir() if (p / f"{split}.tsv").is_file()
    )
    if languages is not None:
        wanted = list(languages)
        chosen = [a for a in available if a in wanted or a.split("_")[0] in wanted]
        unmatched = [
            w for w in wanted if not any(a == w or a.split("_")[0] == w for a in chosen)
        ]
        if unmatched:
            raise FileNotFoundError(
                f"No SIB-200 {split}.tsv for language(s) {unmatched} in {directory}"
            )
        available = chosen
    if not available:
        raise FileNotFoundError(f"No SIB-200 `<lang>/{split}.tsv` files in {directory}")
    result = {}
    for lang in available:
        path = directory / lang / f"{split}.tsv"
        texts, labels, ids = [], [], []
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header != ["index_id", "category", "text"]:
                raise ValueError(
                    f"{path}: expected the header `index_id<TAB>category<TAB>text`, "
                    f"got {header}"
                )
            for number, row in enumerate(reader, 2):
                if not row:
                    continue
                if len(row) != 3:
                    raise ValueError(
                        f"{path}:{number}: expected 3 fields, got {len(row)}"
                    )
                ids.append(row[0])
                labels.append(row[1])
                texts.append(row[2])
        result[lang] = LabelledTexts(texts, labels, ids)
    return result


def align_parallel(data: Mapping[str, LabelledTexts]) -> dict[str, list[str]]:
    """Aligns `{language: LabelledTexts}` on the ids common to all languages.

    Args:
        data: dict `{language: LabelledTexts}`.

    Returns:
        dict `{language: list[str]}`, every list ordered by the common ids
        (in the first language's order).

    Examples:

    >>> data = {"a": LabelledTexts(["x1", "x2"], [0, 1], ["1", "2"]),
    ...         "b": LabelledTexts(["y2", "y1", "y3"], [1, 0, 1], ["2", "1", "3"])}
    >>> align_parallel(data)
    {'a': ['x1', 'x2'], 'b': ['y1', 'y2']}
    """
    languages = list(data)
    if not languages:
        return {}
    common = set(data[languages[0]].ids)
    for lang in languages[1:]:
        common &= set(data[lang].ids)
    order = [i for i in data[languages[0]].ids if i in common]
    dropped = {
        lang: len(d.ids) - len(order)
        for lang, d in data.items()
        if len(d.ids) != len(order)
    }
    if dropped:
        logger.info(
            "align_parallel: rows without a translation in every language: %s", dropped
        )
    result = {}
    for lang, d in data.items():
        by_id = dict(zip(d.ids, d.texts))
        result[lang] = [by_id[i] for i in order]
    return result
