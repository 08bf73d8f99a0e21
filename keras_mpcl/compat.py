"""Every private keras / keras-hub API keras-mpcl relies on, behind one door.

keras-mpcl uses a few internals where no public API does the job; each is
named here with the reason, so that a keras or keras-hub release that changes
one breaks this module (and `check_private_apis`, run by the tests) rather
than a training run. `pyproject.toml` pins both libraries below the next
minor release; raising a pin means running `tests/test_compat.py` against it.

Library code imports these names from here, never from `keras_hub.src` or
`keras.src`. keras-hub itself (and so TensorFlow) is imported only when a
keras-hub helper is first asked for: a torch or JAX process that never builds
an encoder does not pay for it.
"""

import importlib
import itertools

import keras

TESTED_KERAS = "3.15"
TESTED_KERAS_HUB = "0.32"

# keras-hub helpers: module path, attribute, why there is no public way.
_KERAS_HUB_PRIVATE = {
    # Reads a preset's files (local, Kaggle or hf://) the way `from_preset` does.
    "preset_utils": ("keras_hub.src.utils", "preset_utils"),
    # WordPiece pre-tokenization, reused so our HF-exact tokenizer splits
    # words (and special tokens) exactly as keras-hub's WordPieceTokenizer.
    "pretokenize": ("keras_hub.src.tokenizers.word_piece_tokenizer", "pretokenize"),
    "get_special_tokens_pattern": (
        "keras_hub.src.tokenizers.word_piece_tokenizer", "get_special_tokens_pattern"),
    # Makes a tokenizer's `call` accept Python strings and lists like keras-hub's.
    "preprocessing_function": ("keras_hub.src.utils.tensor_utils", "preprocessing_function"),
}

# keras internals: (class, attribute, why).
_KERAS_PRIVATE = (
    (keras.layers.Layer, "_flatten_layers", "every nested layer, to pin dropout seeds (remat)"),
    (keras.random.SeedGenerator, "_initial_seed", "torch dropout without a seed (remat)"),
    (keras.callbacks.Callback, "_model", "a callback's model without JAX's state sync"),
    (keras.Model, "_loss_tracker", "the `loss` a custom (GradCache) train step logs"),
)


def keras_hub_private(name):
    """One of keras-hub's private helpers that keras-mpcl uses, by name.

    Args:
        name: str. One of `"preset_utils"`, `"pretokenize"`,
            `"get_special_tokens_pattern"`, `"preprocessing_function"`.

    Returns:
        The module or function.

    Examples:

    >>> keras_hub_private("pretokenize").__name__
    'pretokenize'
    """
    module, attribute = _KERAS_HUB_PRIVATE[name]
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise ImportError(_moved(f"{module}.{attribute}")) from error


def sublayers(layer):
    """Every layer nested in `layer`, itself excluded (Keras' `_flatten_layers`).

    Examples:

    >>> model = keras.Sequential([keras.layers.Dense(2), keras.layers.Dropout(0.1)])
    >>> [type(layer).__name__ for layer in sublayers(model)]
    ['Dense', 'Dropout']
    """
    return list(layer._flatten_layers(include_self=False))


def unseeded_torch_generator(generator):
    """Whether a torch `SeedGenerator` was made without a seed (draws from torch's RNG)."""
    return generator._initial_seed is None


def callback_model(callback):
    """The model a callback is attached to, or None, without `Callback.model`'s side effect.

    On JAX, `Callback.model` copies the training state into the model's
    variables; reading `_model` only asks whether there is one.
    """
    return callback._model


def track_torch_variables(model):
    """Registers a torch-backend model's weights as `torch.nn.Parameter`s again."""
    model._track_variables()


def track_loss(model, loss, sample_weight):
    """Adds a step's loss to the running `loss` that `fit` logs, as Keras' own train steps do.

    A custom train step (GradCache) has no public way to feed the tracker
    behind `logs["loss"]`.
    """
    model._loss_tracker.update_state(loss, sample_weight=sample_weight)


def update_metrics_variables(model, metrics_variables, loss, x, y, y_pred, sample_weight):
    """`(logs, metrics_variables)` of a stateless JAX train step, as `JAXTrainer` computes them."""
    return model._update_metrics_variables(metrics_variables, loss, x, y, y_pred, sample_weight)


def fit_preprocessed(model, dataset, **kwargs):
    """Keras' own `Model.fit` on a keras-hub task whose batches are already preprocessed.

    keras-hub's `Task.fit` maps its preprocessor over a `tf.data.Dataset` and
    refuses anything else, such as a `tf.distribute` dataset; the batches of
    that dataset went through the preprocessor per replica already.
    """
    return keras.Model.fit(model, dataset, **kwargs)


# Every MirroredStrategy numbers its collective ops from the same keys, and
# TensorFlow's runtime keeps them per process: a second strategy's all-gather of
# another shape fails ("Shape mismatch in the collective instance"). TensorFlow's
# own tests give each strategy a key base; so does `mirrored_strategy`.
_MIRRORED_KEY_BASES = itertools.count(start=100_000, step=100_000)


def mirrored_strategy(devices=None):
    """A `tf.distribute.MirroredStrategy` whose collective keys no earlier one used.

    Sets TensorFlow's private `MirroredStrategy._collective_key_base` for the
    one construction, so a second training with a mirrored strategy in one
    process (a notebook, a sweep) does not collide with the first.

    Args:
        devices: list of str or None. As `tf.distribute.MirroredStrategy`'s.

    Returns:
        A `tf.distribute.MirroredStrategy`.
    """
    import tensorflow as tf

    strategy_class = tf.distribute.MirroredStrategy
    default = strategy_class._collective_key_base
    strategy_class._collective_key_base = next(_MIRRORED_KEY_BASES)
    try:
        return strategy_class(devices=devices)
    finally:
        strategy_class._collective_key_base = default


def check_private_apis():
    """Raises ImportError naming every private API that this keras / keras-hub lack.

    Examples:

    >>> check_private_apis()
    """
    missing = []
    for module, attribute in _KERAS_HUB_PRIVATE.values():
        try:
            getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{attribute}")
    for cls, attribute, why in _KERAS_PRIVATE:
        if not hasattr(cls, attribute) and attribute not in _instance_attributes(cls):
            missing.append(f"{cls.__module__}.{cls.__name__}.{attribute} ({why})")
    if keras.backend.backend() == "jax" and not hasattr(keras.Model, "_update_metrics_variables"):
        missing.append("keras JAX trainer `_update_metrics_variables` (GradCache's JAX step)")
    if keras.backend.backend() == "tensorflow":
        from keras.optimizers import Adam

        if not hasattr(Adam, "_all_reduce_sum_gradients"):
            missing.append("keras TensorFlow optimizer `_all_reduce_sum_gradients` "
                           "(AllReducedClippingAdamW overrides it)")
        import tensorflow as tf

        if not hasattr(tf.distribute.MirroredStrategy, "_collective_key_base"):
            missing.append("TensorFlow `MirroredStrategy._collective_key_base` "
                           "(a second mirrored training in one process)")
    if missing:
        raise ImportError(_moved(", ".join(missing)))


def _instance_attributes(cls):
    # `_model`, `_initial_seed` and `_loss_tracker` are set in `__init__`: look at a fresh instance.
    if cls is keras.callbacks.Callback:
        return vars(cls())
    if cls is keras.random.SeedGenerator:
        return vars(cls(seed=1))
    if cls is keras.Model:
        return vars(cls())
    return {}


def _moved(what):
    import keras_hub

    return (f"keras-mpcl relies on {what}, which this install lacks (keras "
            f"{keras.__version__}, keras-hub {keras_hub.__version__}; tested with keras "
            f"{TESTED_KERAS}, keras-hub {TESTED_KERAS_HUB}). Install the versions pinned in "
            "keras-mpcl's pyproject.toml (`pip install -c constraints.txt -e .`), or update "
            "keras_mpcl/compat.py for the new release.")
