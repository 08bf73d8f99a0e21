"""Sentence encoders: a keras-hub backbone, pooling, optional projection, L2 norm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import keras_hub
from keras import ops

from keras_mpcl.backend import is_traced_by_jax_jit
from keras_mpcl.models.length_buckets import call_in_length_buckets
from keras_mpcl.models.length_buckets import call_on_length_chunks
from keras_mpcl.models.length_buckets import is_split_into_length_chunks
from keras_mpcl.models.length_buckets import length_buckets_under_xla_error
from keras_mpcl.models.length_buckets import split_into_length_chunks
from keras_mpcl.normalization import l2_normalize
from keras_mpcl.validation import check_choice
from keras_mpcl.validation import check_int

if TYPE_CHECKING:
    from typing import Any

    from keras_mpcl.typing import Tensor

POOLING_MODES = ("mean", "cls", "max")
_MEAN_EPSILON = 1e-9  # sentence-transformers clamps the token count at 1e-9.


def _check_head_args(pooling_mode, projection_dim, projection_activation):
    check_choice("pooling_mode", pooling_mode, POOLING_MODES)
    if projection_dim is not None:
        check_int("projection_dim", projection_dim, what="a positive int or None")
    if projection_activation is not None and projection_dim is None:
        raise ValueError(
            "`projection_activation` needs a projection head: set `projection_dim`. "
            f"Received: `projection_activation` = {projection_activation!r}"
        )


def _batch_shards() -> int:
    """How many devices a Keras distribution shards each batch over (1 without one)."""
    distribution = keras.distribution.distribution()
    if distribution is None or getattr(distribution, "batch_dim_name", None) is None:
        return 1
    mesh = distribution.device_mesh
    return int(mesh.shape[mesh.axis_names.index(distribution.batch_dim_name)])


class _SentenceEncoderHead:
    """Builds pooling -> [Dense] -> [L2 normalisation] on a backbone's tokens.

    The embeddings are computed in float32 whatever the dtype policy, so that
    pooling over many bfloat16 token vectors does not lose precision.
    """

    def __init__(
        self,
        backbone: keras_hub.models.Backbone,
        preprocessor: keras_hub.models.Preprocessor | None = None,
        pooling_mode: str = "mean",
        normalize: bool = True,
        projection_dim: int | None = None,
        projection_activation: str | None = None,
        projection_use_bias: bool = True,
        length_buckets: int = 1,
        **kwargs: Any,
    ) -> None:
        _check_head_args(pooling_mode, projection_dim, projection_activation)
        check_int("length_buckets", length_buckets, what="a positive int (1 = off)")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.projection = None
        if projection_dim is not None:
            self.projection = keras.layers.Dense(
                projection_dim,
                activation=projection_activation,
                use_bias=projection_use_bias,
                dtype=backbone.dtype_policy,
                name="projection",
            )
        # === Functional model ===
        inputs = backbone.input
        outputs = backbone(inputs)
        tokens = outputs["sequence_output"] if isinstance(outputs, dict) else outputs
        tokens = ops.cast(tokens, "float32")
        mask = ops.cast(ops.expand_dims(inputs["padding_mask"], axis=-1), "float32")
        if pooling_mode == "mean":
            pooled = ops.sum(tokens * mask, axis=1) / ops.maximum(
                ops.sum(mask, axis=1), _MEAN_EPSILON
            )
        elif pooling_mode == "cls":
            pooled = tokens[:, 0, :]
        else:
            pooled = ops.max(ops.where(mask > 0, tokens, -1e9), axis=1)
        if self.projection is not None:
            pooled = ops.cast(self.projection(pooled), "float32")
        if normalize:
            pooled = l2_normalize(pooled)
        keras_hub.models.TextEmbedder.__init__(
            self, inputs=inputs, outputs=pooled, **kwargs
        )
        # === Config ===
        self.pooling_mode = pooling_mode
        self.normalize = normalize
        self.projection_dim = projection_dim
        self.projection_activation = projection_activation
        self.projection_use_bias = projection_use_bias
        self.length_buckets = length_buckets

    def call(
        self,
        inputs: dict[str, Tensor],
        training: bool | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        if is_split_into_length_chunks(inputs):
            return call_on_length_chunks(
                lambda chunk: super(_SentenceEncoderHead, self).call(chunk, training=training),
                inputs,
            )
        buckets = getattr(self, "length_buckets", 1)  # unset while Functional builds
        if (
            buckets == 1
            or not isinstance(inputs, dict)
            or any(keras.backend.is_keras_tensor(x) for x in inputs.values())
        ):
            return super().call(inputs, training=training, mask=mask)
        if getattr(self, "jit_compile", False) is True and keras.backend.backend() != "torch":
            raise length_buckets_under_xla_error()
        if is_traced_by_jax_jit(inputs["padding_mask"]):
            # Shape inference (`jax.eval_shape`) of an un-jitted JAX model.
            return super().call(inputs, training=training, mask=mask)
        return call_in_length_buckets(
            lambda chunk: super(_SentenceEncoderHead, self).call(chunk, training=training),
            inputs,
            buckets,
        )

    def _assert_input_compatibility(self, arg_0: Any) -> None:
        # A batch split into length chunks holds the input spec's tensors once
        # per chunk; each chunk is checked when it is encoded.
        if not is_split_into_length_chunks(arg_0):
            super()._assert_input_compatibility(arg_0)

    def preprocess_samples(self, x: Any, y: Any = None, sample_weight: Any = None) -> Any:
        # `fit`, `evaluate` and `predict` map this over batches in `tf.data`.
        # Compiled steps (XLA, `jax.jit`) need static shapes, so their length
        # buckets are cut here, at fixed widths, rather than in `call`.
        data = super().preprocess_samples(x, y=y, sample_weight=sample_weight)
        if not self._splits_batches_into_length_chunks():
            return data
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict) and "padding_mask" in x:
            x = split_into_length_chunks(x, self.length_buckets, _batch_shards())
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def _splits_batches_into_length_chunks(self) -> bool:
        if getattr(self, "length_buckets", 1) == 1 or keras.backend.backend() == "torch":
            return False
        if getattr(self, "jit_compile", False) is not True:
            return False
        if keras.backend.backend() == "tensorflow" and (
            self.distribute_strategy.num_replicas_in_sync > 1
        ):
            raise length_buckets_under_xla_error(
                "`length_buckets` > 1 under XLA with several TensorFlow replicas",
                "Compile with `jit_compile=False` (the buckets are then cut per replica "
                "inside the step), or use `length_buckets=1`.",
            )
        return True

    def make_train_function(self, force: bool = False) -> Any:
        # TensorFlow without a strategy builds the optimizer inside the first
        # trace of the train step; a tf.function that creates variables is
        # traced twice. Built here, the step is traced once. JAX and PyTorch
        # build it before the step as well.
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        return super().make_train_function(force)

    def get_config(self) -> dict[str, Any]:
        config = keras_hub.models.TextEmbedder.get_config(self)
        config.update(
            {
                "pooling_mode": self.pooling_mode,
                "normalize": self.normalize,
                "projection_dim": self.projection_dim,
                "projection_activation": self.projection_activation,
                "projection_use_bias": self.projection_use_bias,
                "length_buckets": self.length_buckets,
            }
        )
        return config


_ENCODER_DOC = """{summary}

    A `keras_hub.models.{parent}` with a projection head option: token
    vectors are pooled (`"mean"` over non-padding tokens, the first (`"cls"`)
    token, or `"max"`), optionally mapped by `Dense(projection_dim,
    activation)`, then L2-normalised: `e = W pool(h) / ||W pool(h)||`. The
    preprocessor inside turns raw strings into token ids, so the model takes
    strings in `fit`, `predict` and `encode_text`. `save_to_preset` writes a
    folder that `keras_hub.models.TextEmbedder.from_preset` (or this class)
    loads back, projection head included, once `keras_mpcl` is imported.
    Usually built with `keras_mpcl.models.build_encoder`.

    Args:
        backbone: `keras_hub.models.{backbone}`. The transformer.
        preprocessor: `keras_hub.models.{parent}Preprocessor` or None.
            Defaults to `None` (inputs are then token-id dicts).
        pooling_mode: str. `"mean"`, `"cls"` or `"max"`. Defaults to `"mean"`.
        normalize: bool. L2-normalise the output. Defaults to `True`.
        projection_dim: int or None. Size of the projection head; `None` for
            none. Defaults to `None`.
        projection_activation: str or None. Activation of the projection
            (e.g. `"tanh"` as in LaBSE). Defaults to `None` (linear).
        projection_use_bias: bool. Bias in the projection. Defaults to `True`.
        length_buckets: int. Encode a padded batch in this many chunks of
            rows of similar length, each trimmed to its longest row: the same
            embeddings with less work on padding (see
            `keras_mpcl.models.call_in_length_buckets`). Under XLA and
            `jax.jit`, `fit`, `evaluate` and `predict` cut the batch in the
            `tf.data` pipeline instead, padding each chunk to one of a few
            fixed widths (`keras_mpcl.models.split_into_length_chunks`): one
            compile per combination of widths. Defaults to `1` (off).
        **kwargs: `keras_hub.models.Task` arguments (`name`, `compile`, ...).
"""


@keras.saving.register_keras_serializable(package="keras_mpcl")
class BertSentenceEncoder(_SentenceEncoderHead, keras_hub.models.BertTextEmbedder):
    __doc__ = _ENCODER_DOC.format(
        summary="A BERT sentence encoder with an optional projection head.",
        parent="BertTextEmbedder",
        backbone="BertBackbone",
    )


@keras.saving.register_keras_serializable(package="keras_mpcl")
class XLMRobertaSentenceEncoder(
    _SentenceEncoderHead, keras_hub.models.XLMRobertaTextEmbedder
):
    __doc__ = _ENCODER_DOC.format(
        summary="An XLM-RoBERTa sentence encoder with an optional projection head.",
        parent="XLMRobertaTextEmbedder",
        backbone="XLMRobertaBackbone",
    )


ENCODER_CLASSES = {
    keras_hub.models.BertBackbone: BertSentenceEncoder,
    keras_hub.models.XLMRobertaBackbone: XLMRobertaSentenceEncoder,
}
