"""AdamW whose TensorFlow step is the one JAX and PyTorch take: sparse gradients, replicas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from typing import Any


@keras.saving.register_keras_serializable(package="keras_mpcl")
class SparseSafeAdamW(keras.optimizers.AdamW):
    """AdamW that makes a TensorFlow sparse gradient dense, summing its repeated rows.

    On TensorFlow the gradient of an embedding lookup is a `tf.IndexedSlices`
    with one slice per occurrence of a token in the batch. Keras' optimizers
    square those slices one by one, so a token that occurs `k` times enters
    the global clipping norm and Adam's second moment as `sum_i g_i**2`
    instead of `(sum_i g_i)**2`: TensorFlow training then differs from JAX
    and PyTorch (dense gradients) and from itself under GradCache (dense
    too). A dense gradient, as the other backends have, makes the step
    exact. Other backends and dense gradients pass through unchanged.

    Args:
        **kwargs: `keras.optimizers.AdamW` arguments.

    Examples:

    >>> optimizer = SparseSafeAdamW(learning_rate=1e-3, global_clipnorm=1.0)
    >>> optimizer.get_config()["global_clipnorm"]
    1.0
    """

    def apply(
        self, grads: list[Any], trainable_variables: list[keras.Variable] | None = None
    ) -> Any:
        if keras.backend.backend() == "tensorflow":
            grads = [_dense(g) for g in grads]
        return super().apply(grads, trainable_variables)


def _dense(gradient):
    import tensorflow as tf

    # Densifying sums the repeated rows; unlike `tf.unique`, XLA compiles it.
    return tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient


# The registered name ("keras_mpcl>AllReducedClippingAdamW") is what saved
# models refer to: keep it when moving or renaming the class.
@keras.saving.register_keras_serializable(package="keras_mpcl")
class AllReducedClippingAdamW(SparseSafeAdamW):
    """AdamW that clips by global norm the gradient summed over TensorFlow replicas.

    Keras' optimizer clips each replica's own gradient before the replicas'
    gradients are summed, so under a `tf.distribute` strategy
    `global_clipnorm` bounds every share instead of the step's gradient,
    and a multi-device run drifts from the single-device run on the same
    global batches. This subclass sums first, then clips, as JAX
    (`DataParallel`) and PyTorch (DDP) do. Without a strategy it is AdamW.

    Args:
        all_reduced_clipnorm: float. The bound on the global norm of the
            summed gradient.
        **kwargs: `keras.optimizers.AdamW` arguments, without clipping ones.

    Examples:

    >>> optimizer = AllReducedClippingAdamW(1.0, learning_rate=1e-3)
    >>> optimizer.get_config()["all_reduced_clipnorm"]
    1.0
    """

    def __init__(self, all_reduced_clipnorm: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.all_reduced_clipnorm = float(all_reduced_clipnorm)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # The one override, of Keras' TensorFlow optimizer (keras 3.x).
        import tensorflow as tf

        pairs = list(super()._all_reduce_sum_gradients(grads_and_vars))
        # Dense already: `SparseSafeAdamW.apply` densified them before the all-reduce.
        clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], self.all_reduced_clipnorm)
        return list(zip(clipped, [v for _, v in pairs]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "all_reduced_clipnorm": self.all_reduced_clipnorm}
