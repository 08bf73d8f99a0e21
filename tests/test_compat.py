"""The private keras / keras-hub APIs keras-mpcl uses still exist in the installed versions."""

import pathlib
import re

import keras
import pytest

from keras_mpcl import compat

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_private_api_is_present():
    compat.check_private_apis()


def test_a_missing_private_api_names_it_and_the_fix(monkeypatch):
    monkeypatch.setitem(compat._KERAS_HUB_PRIVATE, "pretokenize",
                        ("keras_hub.src.tokenizers.word_piece_tokenizer", "no_such_helper"))
    with pytest.raises(ImportError, match=r"word_piece_tokenizer\.no_such_helper.*pyproject"):
        compat.check_private_apis()


@pytest.mark.backend_independent
def test_only_the_compat_module_reaches_into_private_packages():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "keras_mpcl").rglob("*.py")
                 if path.name != "compat.py"
                 and re.search(r"keras_hub\.src|keras\.src|_flatten_layers|_track_variables|keras\.Model\.fit\(",
                               path.read_text())]
    assert not offenders, f"private keras / keras-hub use outside keras_mpcl/compat.py: {offenders}"


@pytest.mark.backend_independent
def test_keras_and_keras_hub_have_an_upper_pin():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"keras>=[\d.]+,<[\d.]+"', text)
    assert re.search(r'"keras-hub>=[\d.]+,<[\d.]+"', text)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's MirroredStrategy")
def test_each_mirrored_strategy_gets_its_own_collective_keys():
    # A second mirrored training in one process failed with "Shape mismatch in the
    # collective instance"; tests/distribution/test_multi_device.py runs two.
    import tensorflow as tf

    first, second = compat.mirrored_strategy(), compat.mirrored_strategy()
    assert first.extended._collective_key_base != second.extended._collective_key_base
    assert tf.distribute.MirroredStrategy._collective_key_base == 0  # the default, restored
