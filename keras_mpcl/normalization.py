"""L2 normalisation of tensors with `keras.ops`, with a finite gradient on zero rows."""

from keras import ops


def l2_normalize(x, axis=-1, epsilon=1e-6):
    """Divides `x` by its L2 norm along `axis`, the norm floored at `epsilon`.

    Formula: `x / max(||x||_2, epsilon)`, computed as
    `x * rsqrt(max(||x||_2^2, epsilon^2))`. A zero row stays zero and its
    gradient stays finite; `keras.ops.normalize` clamps after the `rsqrt`
    instead, which gives a zero row a NaN gradient under JAX. Call it on
    float32: `epsilon^2` is below float16's range.

    Args:
        x: float32 tensor.
        axis: int. The axis to normalise. Defaults to `-1`.
        epsilon: float. Lower bound of the norm. Defaults to `1e-6`.

    Returns:
        A tensor of the shape and dtype of `x`.

    Examples:

    >>> x = keras.ops.convert_to_tensor([[3.0, 4.0], [0.0, 0.0]])
    >>> keras.ops.convert_to_numpy(l2_normalize(x)).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    squared_norm = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared_norm, epsilon**2))
