"""Multi-positive contrastive loss over a flattened batch of translation groups."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
import numpy as np
from keras import ops

from keras_mpcl.distribution import collectives
from keras_mpcl.normalization import l2_normalize
from keras_mpcl.validation import check_choice as _check_choice
from keras_mpcl.validation import is_number

if TYPE_CHECKING:
    from typing import Any

    from keras_mpcl.typing import Tensor

VARIANTS = ("supcon", "independent", "pooled")
ANCHORS = ("all", "first", "bidirectional")
REDUCTIONS = (None, "none", "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight")
PADDING_ID = -1
# Masked logits are set to this instead of -inf so that a row with nothing left
# in it gives a finite logsumexp (and finite gradients) rather than NaN.
_MASKED_LOGIT = -1e9

_ARGS_DOC = """\
        temperature: float. Softmax temperature tau: logits are similarity / tau.
            Must be > 0. Defaults to `0.05` (the paper's value).
        variant: str. How the positives of an anchor are aggregated, one of
            `"supcon"`, `"independent"`, `"pooled"` (see above).
            Defaults to `"supcon"`.
        anchors: str. `"all"`: every group member is an anchor and its
            candidates are all other non-padding members of the batch.
            `"first"`: only the first member of each group (in batch order) is
            an anchor and its candidates are the non-first members of all
            groups; with groups of two this is the conventional single-positive
            in-batch-negatives InfoNCE (sentence-transformers'
            `MultipleNegativesRankingLoss`). `"bidirectional"`: the first
            members are anchors as with `"first"`, and every other member is
            an anchor too, whose candidates are the first members of all
            groups; with groups of two this is the symmetric InfoNCE that
            LaBSE trains with (sentence-transformers'
            `MultipleNegativesSymmetricRankingLoss`: the mean of both
            directions). Defaults to `"bidirectional"`: with the English
            translation first in every group it is the configuration that
            retrieves best in the repository's MPCL study (`recipes/mpcl_study.py`,
            results in `recipes/results/mpcl_study/`); `"all"` is the paper's.
        margin: float. Additive margin subtracted from the similarity of every
            positive pair before dividing by the temperature (LaBSE's additive
            margin softmax), so it is in similarity units. Defaults to `0.0`.
        normalize: bool. L2-normalise the embeddings inside the loss so that the
            similarity is cosine; `False` uses the raw dot product.
            Defaults to `True`.
        gather_across_replicas: bool or `"auto"`. In data-parallel training on
            TensorFlow (`tf.distribute`) or PyTorch (`torch.distributed`),
            gather the embeddings and group ids of all replicas (gradients flow
            back through the gather) so that each replica's anchors are
            contrasted with every replica's rows: one distributed step then
            equals a single-device step on the global batch. Group ids are made
            unique per replica, so each replica's batch must hold whole groups.
            `"auto"` gathers when several replicas run in lockstep (a
            TensorFlow replica context; a PyTorch process group while
            gradients are recorded); `True` whenever there are several
            replicas; `False` keeps negatives local. JAX needs no gathering:
            under `keras.distribution` the loss sees the global batch. With
            one replica all three are the same. Defaults to `"auto"`."""

_FORMULA_DOC = """\
    Each row of `y_pred` is the embedding of one group member; rows with the
    same integer id in `y_true` are translations of one another (positives),
    rows with other ids are negatives, and id `-1` marks padding rows that are
    neither anchors nor candidates. A row is never its own positive or
    negative. With `s_ij = sim(i, j) / tau`, positives `P(i)`, candidates
    `A(i)` and negatives `N(i) = A(i) \\ P(i)`, the loss of anchor `i` is

    - `"supcon"` (SupCon's L_out, StableRep):
      `-1/|P(i)| sum_{p in P(i)} log(exp(s_ip) / sum_{a in A(i)} exp(s_ia))`
    - `"independent"` (each positive against the negatives only):
      `-1/|P(i)| sum_{p in P(i)} log(exp(s_ip) / (exp(s_ip) +
      sum_{n in N(i)} exp(s_in)))`
    - `"pooled"` (SupCon's L_in):
      `-log(sum_{p in P(i)} exp(s_ip) / sum_{a in A(i)} exp(s_ia))`

    An anchor without any positive in the batch contributes zero and is left
    out of the mean. Logits are computed in float32 whatever the dtype policy
    of the model, so the loss is safe under `mixed_bfloat16` and
    `mixed_float16`."""


def _check_temperature(temperature):
    if not is_number(temperature):
        raise TypeError(
            "`temperature` should be a positive float. "
            f"Received: `temperature` = {temperature!r} "
            f"of type {type(temperature).__name__}"
        )
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(
            "`temperature` should be a positive float, finite (e.g. 0.05). "
            f"Received: `temperature` = {temperature}"
        )


def _check_margin(margin):
    if not is_number(margin):
        raise TypeError(
            f"`margin` should be a float. Received: `margin` = {margin!r}"
        )
    if not math.isfinite(margin):
        raise ValueError(
            f"`margin` should be a finite float (e.g. 0.0 or 0.3). Received: `margin` = {margin}"
        )


def _check_options(temperature, variant, anchors, margin):
    _check_temperature(temperature)
    _check_choice("variant", variant, VARIANTS)
    _check_choice("anchors", anchors, ANCHORS)
    _check_margin(margin)


def _standardize_inputs(y_true, y_pred):
    """Validates shapes and dtypes; returns integer ids (N,) and float32 (N, D).

    Ids keep their own dtype (int32 or int64; narrower integers become int32):
    only their equality matters, and a cast would let int64 ids collide.
    """
    _check_id_dtype(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_pred.shape) != 2:
        raise ValueError(
            "`y_pred` should be embeddings of shape (N, D), one row per group "
            f"member. Received: `y_pred.shape` = {tuple(y_pred.shape)}"
        )
    if len(y_true.shape) == 2 and y_true.shape[1] == 1:
        y_true = ops.squeeze(y_true, axis=1)
    if len(y_true.shape) != 1:
        raise ValueError(
            "`y_true` should be integer group ids of shape (N,) or (N, 1). "
            f"Received: `y_true.shape` = {tuple(y_true.shape)}"
        )
    n_true, n_pred = y_true.shape[0], y_pred.shape[0]
    if n_true is not None and n_pred is not None and n_true != n_pred:
        raise ValueError(
            "`y_true` and `y_pred` should have the same number of rows N (one "
            f"group id per embedding). Received: {n_true} group ids for "
            f"{n_pred} embeddings"
        )
    label_dtype = keras.backend.standardize_dtype(y_true.dtype)
    if "int" not in label_dtype:
        raise TypeError(
            "`y_true` should hold integer group ids (equal id = translations "
            "of one sentence, -1 = padding). Received dtype "
            f"{label_dtype}; pass ids as int32/int64, e.g. "
            "`np.asarray(ids, dtype='int32')`"
        )
    if label_dtype not in ("int32", "int64"):
        y_true = ops.cast(y_true, "int64" if label_dtype == "uint32" else "int32")
    return y_true, ops.cast(y_pred, "float32")


def _check_id_dtype(y_true):
    # JAX without 64-bit mode silently truncates int64 arrays to int32, so
    # ids >= 2**31 would collide or turn into padding: refuse them while they
    # are still concrete (inside a traced step they are already int32).
    dtype = getattr(y_true, "dtype", None)
    if dtype is not None and keras.backend.standardize_dtype(dtype) == "uint64":
        raise TypeError(
            "`y_true` of dtype uint64 cannot hold the padding id -1 and not every "
            "backend supports it; pass int64 group ids"
        )
    if keras.backend.backend() != "jax" or dtype is None:
        return
    if np.dtype(y_true.dtype).itemsize < 8 or not isinstance(y_true, np.ndarray):
        return
    import jax

    if jax.config.jax_enable_x64 or y_true.size == 0:
        return
    low, high = int(y_true.min()), int(y_true.max())
    if low < PADDING_ID or high >= 2**31:
        raise ValueError(
            f"Group ids range over [{low}, {high}], beyond int32, and JAX runs "
            "without 64-bit integers, so they would be truncated and collide. "
            "Renumber the groups of each batch from 0 (only equality matters), "
            "or enable `jax.config.update('jax_enable_x64', True)`"
        )


def _pair_masks(group_ids, anchors):
    """Boolean (N, N) positive and candidate masks, and the (N,) anchor mask."""
    n = ops.shape(group_ids)[0]
    is_real = ops.not_equal(group_ids, PADDING_ID)
    same_group = ops.equal(group_ids[:, None], group_ids[None, :])
    not_self = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    if anchors == "all":
        candidates = ops.logical_and(
            ops.logical_and(is_real[:, None], is_real[None, :]), not_self
        )
        positives = ops.logical_and(candidates, same_group)
        return positives, candidates, is_real
    # A member is "first" when no earlier row of the batch has its id.
    earlier = ops.cast(ops.tril(ops.ones((n, n)), k=-1), "bool")
    has_earlier_member = ops.any(ops.logical_and(same_group, earlier), axis=1)
    is_first = ops.logical_and(is_real, ops.logical_not(has_earlier_member))
    is_other = ops.logical_and(is_real, has_earlier_member)
    # First members against the other members (and, bidirectionally, back).
    candidates = ops.logical_and(is_first[:, None], is_other[None, :])
    is_anchor = is_first
    if anchors == "bidirectional":
        candidates = ops.logical_or(
            candidates, ops.logical_and(is_other[:, None], is_first[None, :])
        )
        is_anchor = is_real
    positives = ops.logical_and(candidates, same_group)
    return positives, candidates, is_anchor


def _masked_logsumexp(logits, mask):
    return ops.logsumexp(ops.where(mask, logits, _MASKED_LOGIT), axis=1)


def anchor_losses(
    y_true: Tensor,
    y_pred: Tensor,
    temperature: float = 0.05,
    variant: str = "supcon",
    anchors: str = "bidirectional",
    margin: float = 0.0,
    normalize: bool = True,
    gather_across_replicas: bool | str = False,
) -> tuple[Tensor, Tensor]:
    """Per-anchor losses and the mask of anchors that count.

    With `gather_across_replicas` and several replicas, the anchors are this
    replica's rows and the candidates are the rows of all replicas.

    Returns:
        A tuple `(losses, is_valid_anchor)` of shape `(N,)` each: float32 losses
        (zero where the row is not an anchor or has no positive) and a boolean
        mask of the rows that are anchors with at least one positive.
    """
    _check_options(temperature, variant, anchors, margin)
    temperature, margin = float(temperature), float(margin)
    group_ids, embeddings = _standardize_inputs(y_true, y_pred)
    # Padding rows are never anchors nor candidates, but a NaN or inf in one
    # would still reach every gradient through the similarity matmul.
    embeddings = ops.where(
        ops.not_equal(group_ids, PADDING_ID)[:, None], embeddings, ops.zeros_like(embeddings)
    )
    if normalize:
        embeddings = l2_normalize(embeddings)
    if collectives.should_gather(gather_across_replicas):
        group_ids, all_ids, all_embeddings, rows = collectives.gather_replica_batch(
            group_ids, embeddings
        )
        # The masks over the global batch, restricted to this replica's rows.
        positives, candidates, is_anchor = (
            ops.take(mask, rows, axis=0) for mask in _pair_masks(all_ids, anchors)
        )
    else:
        all_embeddings = embeddings
        positives, candidates, is_anchor = _pair_masks(group_ids, anchors)
    # Scaling the (N, D) anchors by 1/tau is cheaper than dividing (N, N) logits.
    logits = ops.matmul(embeddings / temperature, ops.transpose(all_embeddings))
    positive_weight = ops.cast(positives, "float32")
    if margin:
        logits = logits - (margin / temperature) * positive_weight

    num_positives = ops.sum(positive_weight, axis=1)
    safe_num_positives = ops.maximum(num_positives, 1.0)
    if variant == "supcon":
        mean_positive_logit = (
            ops.sum(ops.where(positives, logits, 0.0), axis=1) / safe_num_positives
        )
        losses = _masked_logsumexp(logits, candidates) - mean_positive_logit
    elif variant == "pooled":
        losses = _masked_logsumexp(logits, candidates) - _masked_logsumexp(
            logits, positives
        )
    else:
        negatives = ops.logical_and(candidates, ops.logical_not(positives))
        negatives_logsumexp = _masked_logsumexp(logits, negatives)
        # -log(e^p / (e^p + sum_n e^n)) = softplus(logsumexp_n - p)
        per_positive = ops.softplus(negatives_logsumexp[:, None] - logits)
        losses = (
            ops.sum(ops.where(positives, per_positive, 0.0), axis=1)
            / safe_num_positives
        )
    is_valid_anchor = ops.logical_and(is_anchor, num_positives > 0)
    return ops.where(is_valid_anchor, losses, 0.0), is_valid_anchor


def multi_positive_contrastive_loss(
    y_true: Tensor,
    y_pred: Tensor,
    temperature: float = 0.05,
    variant: str = "supcon",
    anchors: str = "bidirectional",
    margin: float = 0.0,
    normalize: bool = True,
    gather_across_replicas: bool | str = "auto",
) -> Tensor:
    """Multi-positive contrastive loss of every row of a batch of groups.

{formula}

    Args:
        y_true: int tensor of shape `(N,)` or `(N, 1)`: the group id of each
            row, `-1` for padding.
        y_pred: float tensor of shape `(N, D)`: the embeddings.
{args}

    Returns:
        A float32 tensor of shape `(N,)`: the loss of each anchor, zero for rows
        that are padding, not anchors, or have no positive in the batch.

    Examples:

    >>> import numpy as np
    >>> embeddings = np.array(
    ...     [[1.0, 0.1], [0.9, 0.2], [0.1, 1.0], [0.2, 0.9]], dtype="float32")
    >>> group_ids = np.array([0, 0, 1, 1], dtype="int32")
    >>> losses = multi_positive_contrastive_loss(
    ...     group_ids, embeddings, temperature=0.1)
    >>> [round(float(x), 4) for x in keras.ops.convert_to_numpy(losses)]
    [0.0011, 0.0011, 0.0011, 0.0011]

    Reference:
    - [Zhao et al., 2024](https://arxiv.org/abs/2309.08929)
    - [Khosla et al., 2020](https://arxiv.org/abs/2004.11362)
    """
    losses, _ = anchor_losses(
        y_true,
        y_pred,
        temperature=temperature,
        variant=variant,
        anchors=anchors,
        margin=margin,
        normalize=normalize,
        gather_across_replicas=gather_across_replicas,
    )
    return losses


multi_positive_contrastive_loss.__doc__ = multi_positive_contrastive_loss.__doc__.format(
    formula=_FORMULA_DOC, args=_ARGS_DOC
)


@keras.saving.register_keras_serializable(package="keras_mpcl")
class MultiPositiveContrastiveLoss(keras.losses.Loss):
    """Multi-positive contrastive loss (MPCL) for multilingual sentence embeddings.

    Trains an encoder so that all translations of a sentence embed close to
    one another and away from the other sentences of the batch. Feed it a
    flattened batch of groups, e.g. from `keras_mpcl.data.group_dataset`:
    `y_pred` are the `(N, D)` embeddings and `y_true` the `(N,)` group ids.
    Batches should not hold the same group twice nor the same text under two
    ids (a false negative); `group_dataset` guarantees both.

{formula}

    | inputs                        | labels                       |
    |-------------------------------|------------------------------|
    | N texts, groups of >= 2 langs | (N,) int group ids, -1 = pad |

    With groups of two all three variants equal NT-Xent; `anchors="first"`
    with pairs is the single-positive baseline. To learn the temperature,
    end the model with `keras_mpcl.layers.LearnableTemperature` and use this
    loss with `temperature=1.0, normalize=False`.

    Args:
{args}
        reduction: Type of reduction to apply to the per-anchor losses.
            Supported options are `"sum"`, `"sum_over_batch_size"`, `"mean"`,
            `"mean_with_sample_weight"` or `None`. `"sum_over_batch_size"`
            and `"mean"` average over the anchors that count (anchors with at
            least one positive), `"mean_with_sample_weight"` divides by their
            total sample weight, `None` returns the `(N,)` weighted per-anchor
            losses. Defaults to `"sum_over_batch_size"`.
        name: Optional name for the loss instance.
        dtype: The dtype of the loss's computations. Defaults to `None`, which
            means using `keras.backend.floatx()`. The logits are always
            float32.

    Sample weights are per row (`(N,)` or `(N, 1)`) and weight each anchor's
    loss; under data-parallel training on the TensorFlow backend the loss is
    scaled by the number of replicas, as Keras' own losses are.

    Examples:

    >>> import numpy as np
    >>> loss_fn = MultiPositiveContrastiveLoss(temperature=0.1)
    >>> embeddings = np.array(
    ...     [[1.0, 0.1], [0.9, 0.2], [0.95, 0.0], [0.1, 1.0], [0.2, 0.9]],
    ...     dtype="float32")
    >>> group_ids = np.array([0, 0, 0, 1, 1], dtype="int32")
    >>> round(float(loss_fn(group_ids, embeddings)), 4)
    0.1395

    Usage with the `compile()` API:

    ```python
    encoder.compile(
        optimizer=keras.optimizers.AdamW(1e-5),
        loss=keras_mpcl.losses.MultiPositiveContrastiveLoss(temperature=0.05),
    )
    encoder.fit(keras_mpcl.data.group_dataset(groups, groups_per_batch=32,
                                              group_size=4, seed=0))
    ```

    Reference:
    - [Zhao et al., 2024](https://arxiv.org/abs/2309.08929)
    - [Khosla et al., 2020](https://arxiv.org/abs/2004.11362)
    - [Feng et al., 2022 (LaBSE)](https://arxiv.org/abs/2007.01852)
    """

    def __init__(
        self,
        temperature: float = 0.05,
        variant: str = "supcon",
        anchors: str = "bidirectional",
        margin: float = 0.0,
        normalize: bool = True,
        gather_across_replicas: bool | str = "auto",
        reduction: str | None = "sum_over_batch_size",
        name: str = "multi_positive_contrastive_loss",
        dtype: str | keras.DTypePolicy | None = None,
    ) -> None:
        _check_options(temperature, variant, anchors, margin)
        collectives.check_gather_option(gather_across_replicas)
        _check_choice("reduction", reduction, REDUCTIONS)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.temperature = float(temperature)
        self.variant = variant
        self.anchors = anchors
        self.margin = float(margin)
        self.normalize = bool(normalize)
        self.gather_across_replicas = gather_across_replicas

    def _anchor_losses(self, y_true, y_pred, gathering=False):
        return anchor_losses(
            y_true,
            y_pred,
            temperature=self.temperature,
            variant=self.variant,
            anchors=self.anchors,
            margin=self.margin,
            normalize=self.normalize,
            gather_across_replicas=gathering,
        )

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        gathering = collectives.should_gather(self.gather_across_replicas)
        return self._anchor_losses(y_true, y_pred, gathering)[0]

    def __call__(
        self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None
    ) -> Tensor:
        # Overridden because `Loss.__call__` casts `y_true` to the loss dtype
        # (float ids could not be validated) and averages over all N rows
        # instead of over the anchors that have a positive.
        gathering = collectives.should_gather(self.gather_across_replicas)
        with keras.name_scope(self.name):
            losses, is_valid_anchor = self._anchor_losses(y_true, y_pred, gathering)
            weights = ops.cast(is_valid_anchor, "float32")
            if sample_weight is not None:
                weights = weights * _per_row_weights(sample_weight, losses)
            weighted = losses * weights
            if self.reduction in (None, "none"):
                return ops.cast(weighted, self.dtype)
            total = ops.sum(weighted)
            if self.reduction == "sum":
                if gathering:
                    total = collectives.replica_share_to_loss(total)
                return ops.cast(total, self.dtype)
            if self.reduction == "mean_with_sample_weight":
                divisor = ops.sum(weights)
            else:
                divisor = ops.sum(ops.cast(is_valid_anchor, "float32"))
            if gathering:
                # This replica's share of the global mean: the divisor counts
                # the anchors of all replicas, and the shares sum to the loss
                # of the global batch.
                share = ops.divide_no_nan(
                    total, collectives.sum_across_replicas(divisor)
                )
                return ops.cast(collectives.replica_share_to_loss(share), self.dtype)
            mean = ops.divide_no_nan(total, divisor)
            return ops.cast(collectives.scale_loss_for_replicas(mean), self.dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "variant": self.variant,
                "anchors": self.anchors,
                "margin": self.margin,
                "normalize": self.normalize,
                "gather_across_replicas": self.gather_across_replicas,
            }
        )
        return config


MultiPositiveContrastiveLoss.__doc__ = MultiPositiveContrastiveLoss.__doc__.format(
    formula=_FORMULA_DOC, args=_ARGS_DOC
)


def _per_row_weights(sample_weight, losses):
    sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    if len(sample_weight.shape) == 0:
        return ops.broadcast_to(sample_weight, ops.shape(losses))
    if len(sample_weight.shape) == 2 and sample_weight.shape[1] == 1:
        sample_weight = ops.squeeze(sample_weight, axis=1)
    rows = losses.shape[0]
    if len(sample_weight.shape) != 1 or (
        sample_weight.shape[0] is not None and rows is not None and sample_weight.shape[0] != rows
    ):
        raise ValueError(
            "`sample_weight` should be a scalar or one weight per row, of shape "
            f"(N,) or (N, 1) with N = {rows} rows. Received: shape "
            f"{tuple(sample_weight.shape)}"
        )
    return sample_weight
