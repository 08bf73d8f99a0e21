"""Tests of `train`: fit on every backend, outputs, resumption, baseline, precision."""

import csv

import keras
import keras_hub
import numpy as np
import pytest

from keras_mpcl.models import encode
from keras_mpcl.training import ConfigError
from keras_mpcl.training import train
from keras_mpcl.training import data as run_data_lib

from .tiny import tiny_config


class Interrupt(keras.callbacks.Callback):
    """Raises after `at_step` training steps, like a pre-empted job."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.at_step:
            raise RuntimeError("simulated interruption")


def test_fit_decreases_loss_and_writes_the_run(tmp_path):
    # XLA / jax.jit where the backend compiles; PyTorch stays eager ("auto").
    jit = "auto" if keras.backend.backend() == "torch" else "true"
    config = tiny_config(tmp_path, [
        "train.steps=20", "train.checkpoint_every=5", "eval.before_after=true",
        "eval.plot=true", "train.tensorboard=true", f"train.jit_compile={jit}",
        "data.sampling=fixed",
    ])
    result = train(config)
    losses = result.history["loss"]
    assert len(losses) == 4 and np.all(np.isfinite(losses))
    # Epoch means of 5 small batches are noisy: compare the later ones to the first.
    assert min(losses[2:]) < 0.8 * losses[0], losses
    assert result.jit_compile == (keras.backend.backend() != "torch")
    out = result.output_dir
    with open(out / "training_log.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert set(rows[0]) == {"epoch", "learning_rate", "loss"}  # no empty val_* columns
    assert float(rows[0]["learning_rate"]) > float(rows[-1]["learning_rate"])
    assert (out / "config.toml").is_file() and (out / "retrieval.json").is_file()
    assert (out / "tensorboard").is_dir() or not _has_tensorboard()
    assert result.plot.is_file() and result.plot.stat().st_size > 5000
    assert not (out / "backup").exists()  # deleted once the run completes
    assert set(result.after["per_language"]) == {"en", "de", "fr", "es"}
    # The preset loads back with keras-hub and embeds identically.
    texts = ["Hello there.", "Guten Morgen."]
    loaded = keras_hub.models.TextEmbedder.from_preset(str(result.preset_dir))
    np.testing.assert_allclose(encode(loaded, texts), encode(result.encoder, texts), atol=1e-5)


def _has_tensorboard():
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    # Also: a backup of another config or of another backend is refused.
    # Dropout is on (0.1): its random state must continue across the restart too.
    reference = train(tiny_config(tmp_path / "a"))
    interrupted = tiny_config(tmp_path / "b")
    with pytest.raises(RuntimeError, match="simulated interruption"):
        train(interrupted, callbacks=[Interrupt(at_step=3)])
    backup = tmp_path / "b" / "run" / "backup"
    assert (backup / "training_metadata.json").is_file()
    with pytest.raises(ConfigError, match="holds an interrupted run with a different config"):
        train(interrupted.with_overrides(["optimizer.learning_rate=0.1"]))
    # A backup written under another backend is refused with the fix.
    backend_file = backup / "backend.txt"
    assert backend_file.read_text() == keras.backend.backend()
    other = "jax" if keras.backend.backend() != "jax" else "torch"
    backend_file.write_text(other)
    with pytest.raises(ConfigError, match=f"interrupted under the {other} backend.*"
                                          f"KERAS_BACKEND={other}"):
        train(interrupted)
    backend_file.write_text(keras.backend.backend())
    keras.utils.clear_session()
    resumed = train(interrupted)
    assert resumed.resumed_from_step == 2
    assert len(resumed.history["loss"]) == 2  # epochs 2 and 3 of 3
    for got, want in zip(resumed.encoder.get_weights(), reference.encoder.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_encoder_is_saved_before_the_final_evaluation(tmp_path, monkeypatch):
    # Anything failing after `fit` (evaluation, plotting, Ctrl-C) must not lose the model.
    from keras_mpcl.training import report

    calls = []
    evaluate = report.held_out_retrieval

    def interrupted_after_training(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the evaluation after training
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(report, "held_out_retrieval", interrupted_after_training)
    config = tiny_config(tmp_path, ["eval.before_after=true", "train.steps=4",
                                    "train.checkpoint_every=2"])
    with pytest.raises(KeyboardInterrupt):
        train(config)
    preset = tmp_path / "run" / "encoder"
    assert (preset / "config.json").is_file()
    assert not (tmp_path / "run" / "backup").exists()
    keras_hub.models.TextEmbedder.from_preset(str(preset))

    def no_matplotlib(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'matplotlib'")

    monkeypatch.setattr(report, "held_out_retrieval", evaluate)
    monkeypatch.setattr(report, "plot_comparison", no_matplotlib)
    with pytest.warns(UserWarning, match="No plot written.*matplotlib.*retrieval.json"):
        result = train(config.with_overrides(["eval.plot=true"]), tmp_path / "second")
    assert result.plot is None and (result.preset_dir / "config.json").is_file()
    assert (tmp_path / "second" / "retrieval.json").is_file()


def test_baseline_flag_trains_anchored_pairs(tmp_path):
    config = tiny_config(tmp_path, ["loss.objective=cl", "train.steps=2", "train.checkpoint_every=2"])
    run_data = run_data_lib.split_groups(run_data_lib.read_groups(config.data), config.data)
    english = set(run_data.train.texts("en"))
    texts, ids = next(iter(run_data_lib.training_dataset(run_data, config)))
    texts = [t.decode() for t in keras.ops.convert_to_numpy(texts)]
    ids = keras.ops.convert_to_numpy(ids)
    assert len(texts) == 2 * config.data.groups_per_batch
    for g in range(0, len(texts), 2):
        assert ids[g] == ids[g + 1] >= 0  # a pair of one group
        assert texts[g] in english and texts[g + 1] not in english  # anchor first
    result = train(config)
    assert result.encoder.loss.anchors == "first"
    assert np.isfinite(result.history["loss"]).all()


def test_mixed_bfloat16(tmp_path):
    config = tiny_config(tmp_path, ["train.precision=mixed_bfloat16", "train.steps=2",
                                    "train.checkpoint_every=2"])
    result = train(config)
    assert result.encoder.backbone.dtype_policy.name == "mixed_bfloat16"
    assert np.isfinite(result.history["loss"]).all()
    assert keras.config.dtype_policy().name == "float32"  # restored after the run


def test_held_out_languages_and_key_range():
    config = tiny_config("unused", [
        "data.held_out=0", "data.held_out_range=[16, 24]", "held_out_languages=es",
    ])
    run_data = run_data_lib.split_groups(run_data_lib.read_groups(config.data), config.data)
    assert run_data.train_languages == ("en", "de", "fr")
    assert sorted(run_data.held_out.keys) == list(range(16, 24))
    assert set(run_data.held_out_texts()) == {"en", "de", "fr", "es"}
    assert len(run_data.train) == 16
    with pytest.raises(ValueError, match="`data.held_out_languages` = \\['xx'\\] are not languages"):
        bad = tiny_config("unused", ["held_out_languages=xx"])
        run_data_lib.split_groups(run_data_lib.read_groups(bad.data), bad.data)
    with pytest.raises(ValueError, match="exceeds the 3 training languages"):
        wide = tiny_config("unused", ["held_out_languages=es", "data.group_size=4",
                                      "data.groups_per_batch=2"])
        data = run_data_lib.split_groups(run_data_lib.read_groups(wide.data), wide.data)
        run_data_lib.training_dataset(data, wide)


def test_sentencepiece_encoder_trains_across_epochs_with_remat(tmp_path):
    # Regression: reseeding at each epoch called tf.random.set_seed, which freed
    # the SentencePiece resource of the running XLM-R preprocessing pipeline.
    jit = "false" if keras.backend.backend() == "torch" else "auto"
    config = tiny_config(tmp_path, [
        'encoder.random={architecture="xlm_roberta", vocabulary_size=200, num_layers=2, '
        'num_heads=2, hidden_dim=16, intermediate_dim=32, dropout=0.1}',
        "train.steps=6", "train.checkpoint_every=2", "train.remat=true",
        f"train.jit_compile={jit}",
    ])
    result = train(config)
    assert len(result.history["loss"]) == 3 and np.isfinite(result.history["loss"]).all()
    layers = result.encoder.backbone.transformer_layers
    assert all(getattr(layer, "_keras_mpcl_remat", False) for layer in layers)


def test_remat_of_the_first_layers_and_more_layers_than_the_encoder_has(tmp_path):
    two_layers = ("encoder.random={vocabulary_size=200, num_layers=2, num_heads=2, "
                  "hidden_dim=16, intermediate_dim=32, dropout=0.1}")
    config = tiny_config(tmp_path, [two_layers, "train.remat=1", "train.steps=2",
                                    "train.checkpoint_every=2"])
    result = train(config)
    layers = result.encoder.backbone.transformer_layers
    assert [getattr(layer, "_keras_mpcl_remat", False) for layer in layers] == [True, False]
    config = tiny_config(tmp_path / "too_many", [two_layers, "train.remat=3", "train.steps=2"])
    with pytest.raises(ConfigError, match=r"`train.remat` = 3.*from 1 to 2.*--set train.remat="):
        train(config)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="torch.compile only")
def test_remat_with_torch_compile_is_a_config_error(tmp_path):
    config = tiny_config(tmp_path, ["train.remat=true", "train.jit_compile=true",
                                    "train.steps=2", "train.checkpoint_every=2"])
    with pytest.raises(ConfigError, match="train.jit_compile=auto"):
        train(config)


def test_length_buckets_train_compiled_or_not(tmp_path):
    # Compiled on TensorFlow and JAX (XLA, jax.jit: chunks cut in the pipeline);
    # TensorFlow's eager-graph path is covered in tests/models/test_length_buckets.py.
    compiled = "auto" if keras.backend.backend() == "torch" else "true"
    config = tiny_config(tmp_path, ["train.length_buckets=3", "train.steps=2",
                                    "train.checkpoint_every=2", f"train.jit_compile={compiled}"])
    result = train(config)
    assert result.encoder.length_buckets == 3
    assert result.jit_compile == (keras.backend.backend() != "torch")
    assert len(result.history["loss"]) == 1 and np.isfinite(result.history["loss"]).all()


def test_batching_is_checked_before_the_encoder_is_built(tmp_path, monkeypatch):
    from keras_mpcl.training import trainer

    def not_yet(*args, **kwargs):
        raise AssertionError("the encoder was built before the config was checked")

    monkeypatch.setattr(trainer, "build_run_encoder", not_yet)
    config = tiny_config(tmp_path, ["held_out_languages=es", "data.group_size=4"])
    with pytest.raises(ValueError, match="exceeds the 3 training languages"):
        train(config)


def test_mini_batch_size_trains_as_the_uncached_run(tmp_path):
    # Issue #14: `train.mini_batch_size` runs GradCache steps. Without dropout, encoding
    # the 12 sentences of a batch 5 at a time changes nothing but float rounding. (On
    # TensorFlow this needs SparseSafeAdamW: Keras' AdamW clipped the plain step's sparse
    # embedding gradient by a wrong norm, and the runs parted well beyond 1e-5.)
    common = ["encoder.random.dropout=0.0", "train.steps=4", "train.checkpoint_every=2"]
    plain = train(tiny_config(tmp_path / "plain", common))
    cached = train(tiny_config(tmp_path / "cached", common + ["train.mini_batch_size=5"]))
    from keras_mpcl.training import cached_mini_batch_size

    assert cached_mini_batch_size(cached.encoder) == 5
    assert cached_mini_batch_size(plain.encoder) is None
    np.testing.assert_allclose(cached.history["loss"], plain.history["loss"], rtol=1e-5)
    for got, want in zip(cached.encoder.get_weights(), plain.encoder.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_mini_batch_size_where_it_cannot_run_is_a_config_error(tmp_path):
    if keras.backend.backend() == "torch":
        bad, fix = ["train.jit_compile=true"], "train.jit_compile=auto"
    elif keras.backend.backend() == "tensorflow":
        bad, fix = ["train.length_buckets=2", "train.jit_compile=true"], "train.jit_compile=false"
    else:
        bad, fix = ["train.length_buckets=2", "train.jit_compile=false"], "train.length_buckets=1"
    config = tiny_config(tmp_path, ["train.mini_batch_size=4", *bad])
    with pytest.raises(ConfigError, match=fix):
        train(config)
