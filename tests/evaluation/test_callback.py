import numpy as np
import pytest

from keras_mpcl.evaluation import EvaluationCallback
from keras_mpcl.evaluation import sts
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from tests.evaluation.helpers import bag_of_chars


class _RecordingModel:
    def __init__(self):
        self.saved = []

    def save_weights(self, path, overwrite=True):
        self.saved.append(path)


def test_best_tracking_and_saving_without_fit(tmp_path):
    values = iter([0.5, 0.7, 0.6, 0.9])
    cb = EvaluationCallback(
        {"score": lambda encode: next(values)},
        encoder=bag_of_chars,
        filepath=str(tmp_path / "e{epoch}.weights.h5"),
        verbose=0,
    )
    model = _RecordingModel()
    cb.set_model(model)
    for epoch in range(4):
        logs = {"loss": 1.0}
        cb.on_epoch_end(epoch, logs)
        assert logs["eval_score"] == [0.5, 0.7, 0.6, 0.9][epoch]
    assert cb.monitor == "eval_score" and cb.best == 0.9
    assert [p.rsplit("/", 1)[1] for p in model.saved] == [
        "e1.weights.h5",
        "e2.weights.h5",
        "e4.weights.h5",
    ]
    assert [r["eval_score"] for r in cb.records] == [0.5, 0.7, 0.6, 0.9]


def test_min_mode_save_always_and_errors(tmp_path):
    values = iter([3.0, 1.0, 2.0])
    cb = EvaluationCallback(
        {"val": lambda encode: {"loss": next(values), "num_x": 3}},
        encoder=bag_of_chars,
        mode="auto",
        save_best_only=False,
        filepath=str(tmp_path / "s{step}.weights.h5"),
        every_n_epochs=None,
        every_n_steps=2,
        verbose=0,
    )
    model = _RecordingModel()
    cb.set_model(model)
    for step in range(6):
        logs = {}
        cb.on_train_batch_end(step, logs)
    assert cb.best == 1.0 and len(model.saved) == 3  # saved at every evaluation
    assert [r["step"] for r in cb.records] == [2, 4, 6]
    logs = {}
    cb.on_epoch_end(0, logs)
    assert logs == {"eval_val_loss": 2.0}  # latest step values go to the epoch logs
    with pytest.raises(ValueError, match="never run"):
        EvaluationCallback({"a": len}, every_n_epochs=None)
    with pytest.raises(TypeError, match="callable"):
        EvaluationCallback({"a": 3})
    cb = EvaluationCallback(
        {"a": lambda e: 1.0}, encoder=bag_of_chars, monitor="b", verbose=0
    )
    with pytest.raises(KeyError, match="not among the evaluation metrics"):
        cb.evaluate()


def test_callback_inside_fit(tiny_text_embedder, tmp_path):
    model = tiny_text_embedder
    model.compile(optimizer="adam", loss=MultiPositiveContrastiveLoss())
    x = [
        "the cat sat",
        "THE CAT SAT",
        "a dog runs",
        "A DOG RUNS",
        "red house",
        "RED HOUSE",
        "big tree",
        "BIG TREE",
    ]
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    s1 = ["the cat sat", "a dog runs", "red house", "big tree"]
    s2 = ["THE CAT SAT", "a dog sat", "green city", "the sun"]
    callback = EvaluationCallback(
        {"sts": lambda encode: sts(encode, s1, s2, [5.0, 3.0, 1.0, 0.0])},
        every_n_epochs=1,
        every_n_steps=2,
        filepath=str(tmp_path / "best.weights.h5"),
        verbose=0,
    )
    history = model.fit(
        x, y, batch_size=4, epochs=2, verbose=0, shuffle=False, callbacks=[callback]
    )
    values = history.history["eval_sts_spearman"]
    assert len(values) == 2 and all(-1.0 <= v <= 1.0 for v in values)
    assert [(r["epoch"], r["step"]) for r in callback.records] == [
        (0, 2),
        (0, None),
        (1, 4),
        (1, None),
    ]
    assert (tmp_path / "best.weights.h5").is_file()
    assert callback.best == max(r["eval_sts_spearman"] for r in callback.records)
