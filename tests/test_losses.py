"""Tests of the multi-positive contrastive loss against a NumPy reference."""

import itertools
import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_mpcl.layers import LearnableTemperature
from keras_mpcl.losses import MultiPositiveContrastiveLoss
from keras_mpcl.losses import multi_positive_contrastive_loss


def _logsumexp(values):
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return -np.inf
    top = values.max()
    return top + np.log(np.exp(values - top).sum())


def reference_losses(
    ids, embeddings, temperature=0.05, variant="supcon", anchors="bidirectional", margin=0.0,
    normalize=True,
):
    """Loop-by-loop NumPy transcription of the formulas in the loss docstring."""
    ids = np.asarray(ids).reshape(-1)
    x = np.asarray(embeddings, dtype=np.float64)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    n = len(ids)
    seen, is_first = set(), np.zeros(n, bool)
    for i, gid in enumerate(ids):
        if gid != -1 and gid not in seen:
            is_first[i] = True
            seen.add(gid)
    losses, valid = np.zeros(n), np.zeros(n, bool)
    for i in range(n):
        if ids[i] == -1 or (anchors == "first" and not is_first[i]):
            continue
        candidates = [
            j for j in range(n)
            if j != i and ids[j] != -1 and (
                anchors == "all" or is_first[i] != is_first[j])
        ]
        positives = [j for j in candidates if ids[j] == ids[i]]
        negatives = [j for j in candidates if ids[j] != ids[i]]
        if not positives:
            continue
        s = {
            j: (x[i] @ x[j] - (margin if j in positives else 0.0)) / temperature
            for j in candidates
        }
        lse_all = _logsumexp([s[j] for j in candidates])
        if variant == "supcon":
            loss = np.mean([lse_all - s[p] for p in positives])
        elif variant == "pooled":
            loss = lse_all - _logsumexp([s[p] for p in positives])
        else:
            lse_neg = _logsumexp([s[j] for j in negatives])
            loss = np.mean([np.logaddexp(s[p], lse_neg) - s[p] for p in positives])
        losses[i], valid[i] = loss, True
    return losses, valid


def _random_batch(seed, group_sizes, dim=8, padding=0):
    rng = np.random.default_rng(seed)
    ids = np.concatenate(
        [np.full(size, gid) for gid, size in enumerate(group_sizes)]
        + [np.full(padding, -1)]
    ).astype("int32")
    order = rng.permutation(len(ids))
    embeddings = rng.normal(size=(len(ids), dim)).astype("float32")
    return ids[order], embeddings


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


class TestHardCodedFixtures:
    def test_two_orthogonal_pairs(self):
        # Anchor 0 sees its positive at cosine 1 and two negatives at cosine 0:
        # loss = log(e^1 + 2 e^0) - 1 at temperature 1, for every anchor.
        embeddings = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], "float32")
        ids = np.array([7, 7, 3, 3], "int32")
        expected = math.log(math.e + 2) - 1
        for variant in ("supcon", "independent", "pooled"):
            losses = multi_positive_contrastive_loss(
                ids, embeddings, temperature=1.0, variant=variant, anchors="all"
            )
            np.testing.assert_allclose(_numpy(losses), [expected] * 4, rtol=1e-6)
        # The default, "bidirectional": rows 0 and 2 (first of their group) see
        # rows 1 and 3, rows 1 and 3 see rows 0 and 2: one negative each.
        losses = multi_positive_contrastive_loss(ids, embeddings, temperature=1.0)
        np.testing.assert_allclose(
            _numpy(losses), [math.log(math.e + 1) - 1] * 4, rtol=1e-6)

    def test_group_of_three_by_hand(self):
        # Anchor 0: positives 1, 2 (cos 1 and 0.6), negative 3 (cos 0).
        embeddings = np.array([[1, 0], [1, 0], [0.6, 0.8], [0, 1]], "float32")
        ids = np.array([0, 0, 0, 1], "int32")
        s1, s2, s3 = 1.0, 0.6, 0.0
        lse = math.log(math.exp(s1) + math.exp(s2) + math.exp(s3))
        supcon = lse - (s1 + s2) / 2
        pooled = lse - math.log(math.exp(s1) + math.exp(s2))
        independent = (
            math.log(math.exp(s1) + math.exp(s3)) - s1
            + math.log(math.exp(s2) + math.exp(s3)) - s2
        ) / 2
        for variant, expected in (
            ("supcon", supcon), ("pooled", pooled), ("independent", independent)
        ):
            losses = multi_positive_contrastive_loss(
                ids, embeddings, temperature=1.0, variant=variant, anchors="all"
            )
            np.testing.assert_allclose(_numpy(losses)[0], expected, rtol=1e-6)
        # Anchor 3 has no positive: zero and excluded from the mean.
        assert _numpy(losses)[3] == 0.0


@pytest.mark.parametrize(
    "variant,anchors,margin,normalize",
    list(itertools.product(
        ("supcon", "independent", "pooled"), ("all", "first", "bidirectional"), (0.0, 0.2),
        (True, False)
    )),
)
def test_matches_numpy_reference(variant, anchors, margin, normalize):
    # Groups of different sizes, a singleton (no positive) and padding rows.
    ids, embeddings = _random_batch(0, [2, 3, 4, 1, 5], padding=3)
    temperature = 0.5 if not normalize else 0.1
    expected, valid = reference_losses(
        ids, embeddings, temperature, variant, anchors, margin, normalize
    )
    losses = multi_positive_contrastive_loss(
        ids, embeddings, temperature=temperature, variant=variant,
        anchors=anchors, margin=margin, normalize=normalize,
    )
    np.testing.assert_allclose(_numpy(losses), expected, rtol=1e-4, atol=1e-5)
    loss = MultiPositiveContrastiveLoss(
        temperature=temperature, variant=variant, anchors=anchors, margin=margin,
        normalize=normalize,
    )(ids, embeddings)
    np.testing.assert_allclose(_numpy(loss), expected[valid].mean(), rtol=1e-4)


def test_labels_of_shape_n_by_one():
    ids, embeddings = _random_batch(1, [3, 3])
    np.testing.assert_allclose(
        _numpy(multi_positive_contrastive_loss(ids[:, None], embeddings)),
        _numpy(multi_positive_contrastive_loss(ids, embeddings)),
    )


def test_variants_coincide_for_pairs():
    ids, embeddings = _random_batch(2, [2] * 6)
    results = [
        _numpy(multi_positive_contrastive_loss(ids, embeddings, variant=v))
        for v in ("supcon", "independent", "pooled")
    ]
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5)
    np.testing.assert_allclose(results[0], results[2], rtol=1e-5)


def _query_document_pairs(seed, b, temperature):
    """Flattened groups [q0, d0, q1, d1, ...] and the (b, b) query-document logits."""
    rng = np.random.default_rng(seed)
    queries = rng.normal(size=(b, 8)).astype("float32")
    documents = rng.normal(size=(b, 8)).astype("float32")
    embeddings = np.stack([queries, documents], axis=1).reshape(2 * b, 8)
    ids = np.repeat(np.arange(b), 2).astype("int32")
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    d = documents / np.linalg.norm(documents, axis=1, keepdims=True)
    return ids, embeddings, ((q @ d.T) / temperature).astype("float32")


def _cross_entropy(logits):
    labels = np.eye(len(logits), dtype="float32")
    return _numpy(keras.losses.CategoricalCrossentropy(from_logits=True)(labels, logits))


def test_first_anchor_pairs_is_in_batch_infonce():
    ids, embeddings, logits = _query_document_pairs(3, 6, 0.05)
    loss = MultiPositiveContrastiveLoss(temperature=0.05, anchors="first")(ids, embeddings)
    np.testing.assert_allclose(_numpy(loss), _cross_entropy(logits), rtol=1e-5)


def test_bidirectional_pairs_are_symmetric_infonce():
    """Groups of two: the mean of InfoNCE query->documents and documents->query."""
    ids, embeddings, logits = _query_document_pairs(8, 5, 0.05)
    loss = MultiPositiveContrastiveLoss(temperature=0.05, anchors="bidirectional")(
        ids, embeddings
    )
    expected = (_cross_entropy(logits) + _cross_entropy(logits.T)) / 2
    np.testing.assert_allclose(_numpy(loss), expected, rtol=1e-5)


def test_permutation_invariance():
    """With every row an anchor, row order does not matter (it picks the first rows otherwise)."""
    ids, embeddings = _random_batch(4, [2, 3, 4, 3], padding=2)
    loss_fn = MultiPositiveContrastiveLoss(temperature=0.1, anchors="all")
    order = np.random.default_rng(5).permutation(len(ids))
    np.testing.assert_allclose(
        _numpy(loss_fn(ids, embeddings)), _numpy(loss_fn(ids[order], embeddings[order])),
        rtol=1e-5,
    )
    per_anchor = _numpy(multi_positive_contrastive_loss(ids, embeddings, anchors="all"))
    permuted = _numpy(
        multi_positive_contrastive_loss(ids[order], embeddings[order], anchors="all"))
    np.testing.assert_allclose(per_anchor[order], permuted, rtol=1e-5, atol=1e-6)


def test_first_anchors_invariant_to_group_order():
    ids = np.repeat(np.arange(4), 3).astype("int32")
    embeddings = np.random.default_rng(6).normal(size=(12, 8)).astype("float32")
    group_order = [2, 0, 3, 1]
    rows = np.concatenate([np.where(ids == g)[0] for g in group_order])
    loss_fn = MultiPositiveContrastiveLoss(anchors="first")
    np.testing.assert_allclose(
        _numpy(loss_fn(ids, embeddings)), _numpy(loss_fn(ids[rows], embeddings[rows])),
        rtol=1e-5,
    )


class _RowLookup(keras.layers.Layer):
    """Returns rows of a trainable (N, D) matrix: lets SGD expose the gradient."""

    def __init__(self, initial, **kwargs):
        super().__init__(**kwargs)
        self.table = self.add_weight(
            shape=initial.shape, initializer=keras.initializers.Constant(initial)
        )

    def call(self, rows):
        return ops.take(self.table, ops.cast(ops.reshape(rows, (-1,)), "int32"), axis=0)


def _gradient_by_sgd_step(loss_fn, ids, embeddings):
    """grad = W_before - W_after of one SGD step with learning rate 1."""
    rows = np.arange(len(ids), dtype="int32")[:, None]
    inputs = keras.Input((1,), dtype="int32")
    lookup = _RowLookup(embeddings)
    model = keras.Model(inputs, lookup(inputs))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=loss_fn)
    model.train_on_batch(rows, ids)
    return embeddings - _numpy(lookup.table)


@pytest.mark.parametrize("variant", ["supcon", "independent", "pooled"])
@pytest.mark.parametrize("anchors", ["all", "first", "bidirectional"])
def test_gradients_match_finite_differences(variant, anchors):
    ids, embeddings = _random_batch(7, [2, 3, 3], dim=4, padding=1)
    temperature, margin = 0.5, 0.1

    def mean_loss(x):
        losses, valid = reference_losses(ids, x, temperature, variant, anchors, margin)
        return losses[valid].mean()

    numeric = np.zeros_like(embeddings, dtype=np.float64)
    x = embeddings.astype(np.float64)
    eps = 1e-5
    for index in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (mean_loss(up) - mean_loss(down)) / (2 * eps)
    loss_fn = MultiPositiveContrastiveLoss(
        temperature=temperature, variant=variant, anchors=anchors, margin=margin
    )
    analytic = _gradient_by_sgd_step(loss_fn, ids, embeddings)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-5)


class TestNumericalStability:
    @pytest.mark.parametrize("variant", ["supcon", "independent", "pooled"])
    def test_low_temperature_zero_and_identical_vectors(self, variant):
        embeddings = np.concatenate(
            [np.zeros((2, 4)), np.ones((4, 4)), np.eye(4)], axis=0
        ).astype("float32")
        ids = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4], "int32")
        loss_fn = MultiPositiveContrastiveLoss(temperature=0.01, variant=variant)
        assert np.isfinite(_numpy(loss_fn(ids, embeddings)))
        grad = _gradient_by_sgd_step(loss_fn, ids, embeddings)
        assert np.all(np.isfinite(grad))

    def test_huge_logits_stay_finite(self):
        embeddings = np.random.default_rng(8).normal(size=(8, 4)).astype("float32") * 1e3
        ids = np.repeat(np.arange(4), 2).astype("int32")
        loss = MultiPositiveContrastiveLoss(temperature=0.01, normalize=False)(
            ids, embeddings
        )
        assert np.isfinite(_numpy(loss))

    def test_no_valid_anchor_gives_zero(self):
        embeddings = np.random.default_rng(9).normal(size=(4, 3)).astype("float32")
        for ids in ([0, 1, 2, 3], [-1, -1, -1, -1], [0, -1, 1, -1]):
            ids = np.array(ids, "int32")
            for reduction in ("sum_over_batch_size", "mean_with_sample_weight", "sum"):
                loss = MultiPositiveContrastiveLoss(reduction=reduction)(ids, embeddings)
                assert _numpy(loss) == 0.0

    @pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
    def test_mixed_precision_inputs(self, policy):
        ids, embeddings = _random_batch(10, [3, 3, 2, 4])
        dtype = "bfloat16" if "bfloat16" in policy else "float16"
        low = ops.cast(embeddings, dtype)
        rounded = _numpy(ops.cast(low, "float32"))
        expected, valid = reference_losses(ids, rounded)
        keras.config.set_dtype_policy(policy)
        loss = MultiPositiveContrastiveLoss()(ids, low)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        np.testing.assert_allclose(_numpy(loss), expected[valid].mean(), rtol=1e-4)
        per_anchor = multi_positive_contrastive_loss(ids, low)
        assert keras.backend.standardize_dtype(per_anchor.dtype) == "float32"


class TestReductionsAndWeights:
    def setup_method(self):
        self.ids, self.embeddings = _random_batch(11, [2, 3, 1, 4], padding=2)
        self.expected, self.valid = reference_losses(self.ids, self.embeddings)
        self.weights = np.linspace(0.5, 2.0, len(self.ids)).astype("float32")

    def test_each_reduction(self):
        e, v = self.expected, self.valid
        for reduction, target in (
            ("sum_over_batch_size", e[v].mean()),
            ("mean", e[v].mean()),
            ("sum", e.sum()),
            ("mean_with_sample_weight", e[v].mean()),
        ):
            loss = MultiPositiveContrastiveLoss(reduction=reduction)(
                self.ids, self.embeddings
            )
            np.testing.assert_allclose(_numpy(loss), target, rtol=1e-5)
        for reduction in (None, "none"):
            loss = MultiPositiveContrastiveLoss(reduction=reduction)(
                self.ids, self.embeddings
            )
            np.testing.assert_allclose(_numpy(loss), e, rtol=1e-5, atol=1e-6)

    def test_per_anchor_sample_weight(self):
        e, v, w = self.expected, self.valid, self.weights
        for shape in ((-1,), (-1, 1)):
            weights = w.reshape(shape)
            mean = MultiPositiveContrastiveLoss()(self.ids, self.embeddings, weights)
            np.testing.assert_allclose(_numpy(mean), (e * w)[v].sum() / v.sum(), rtol=1e-5)
            weighted_mean = MultiPositiveContrastiveLoss(
                reduction="mean_with_sample_weight"
            )(self.ids, self.embeddings, weights)
            np.testing.assert_allclose(
                _numpy(weighted_mean), (e * w)[v].sum() / w[v].sum(), rtol=1e-5
            )
            summed = MultiPositiveContrastiveLoss(reduction="sum")(
                self.ids, self.embeddings, weights
            )
            np.testing.assert_allclose(_numpy(summed), (e * w).sum(), rtol=1e-5)

    def test_scalar_sample_weight(self):
        e, v = self.expected, self.valid
        loss = MultiPositiveContrastiveLoss()(self.ids, self.embeddings, 3.0)
        np.testing.assert_allclose(_numpy(loss), 3.0 * e[v].mean(), rtol=1e-5)

    def test_zero_weight_removes_anchor(self):
        w = self.valid.astype("float32")
        first_valid = int(np.argmax(self.valid))
        w[first_valid] = 0.0
        loss = MultiPositiveContrastiveLoss(reduction="mean_with_sample_weight")(
            self.ids, self.embeddings, w
        )
        keep = self.valid.copy()
        keep[first_valid] = False
        np.testing.assert_allclose(_numpy(loss), self.expected[keep].mean(), rtol=1e-5)


class TestSerialization:
    def test_config_round_trip(self):
        loss = MultiPositiveContrastiveLoss(
            temperature=0.02, variant="pooled", anchors="first", margin=0.3,
            normalize=False, reduction="sum", name="my_loss",
        )
        config = loss.get_config()
        assert config == {
            "name": "my_loss", "reduction": "sum", "temperature": 0.02,
            "variant": "pooled", "anchors": "first", "margin": 0.3, "normalize": False,
            "gather_across_replicas": "auto",
        }
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loss)
        )
        assert isinstance(restored, MultiPositiveContrastiveLoss)
        assert restored.get_config() == config

    def test_compiled_model_keeps_loss_config(self, tmp_path):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(
            optimizer="sgd",
            loss=MultiPositiveContrastiveLoss(temperature=0.07, variant="independent"),
        )
        path = tmp_path / "model.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        assert isinstance(restored.loss, MultiPositiveContrastiveLoss)
        assert restored.loss.get_config() == model.loss.get_config()


def test_model_fit_smoke():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(12)
    centers = rng.normal(size=(16, 6))
    ids = np.repeat(np.arange(16), 4).astype("int32")
    features = (centers[ids] + 0.3 * rng.normal(size=(64, 6))).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8)])
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=MultiPositiveContrastiveLoss(temperature=0.2),
    )
    # shuffle=False keeps each batch made of whole groups.
    history = model.fit(features, ids, batch_size=32, epochs=30, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    # With three positives per anchor supcon cannot go below log(3).
    floor = math.log(3)
    assert losses[-1] - floor < 0.5 * (losses[0] - floor), losses


class TestLearnableTemperature:
    def test_equivalent_to_fixed_temperature(self):
        ids, embeddings = _random_batch(13, [3, 2, 4])
        scaled = LearnableTemperature(initial_temperature=0.07)(embeddings)
        learned = MultiPositiveContrastiveLoss(temperature=1.0, normalize=False)(
            ids, scaled
        )
        fixed = MultiPositiveContrastiveLoss(temperature=0.07)(ids, embeddings)
        np.testing.assert_allclose(_numpy(learned), _numpy(fixed), rtol=1e-5)

    def test_temperature_is_trained(self):
        rng = np.random.default_rng(14)
        ids = np.repeat(np.arange(8), 2).astype("int32")
        features = rng.normal(size=(16, 5)).astype("float32")
        layer = LearnableTemperature(initial_temperature=0.5)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), layer])
        model.compile(
            optimizer=keras.optimizers.Adam(0.05),
            loss=MultiPositiveContrastiveLoss(temperature=1.0, normalize=False),
        )
        model.fit(features, ids, batch_size=16, epochs=5, verbose=0)
        assert layer.temperature != pytest.approx(0.5)
        assert layer.temperature >= layer.min_temperature

    def test_config_and_errors(self):
        layer = LearnableTemperature(initial_temperature=0.1, min_temperature=0.02)
        restored = LearnableTemperature.from_config(layer.get_config())
        assert restored.initial_temperature == 0.1
        assert restored.min_temperature == 0.02
        with pytest.raises(ValueError, match="`initial_temperature` should be a positive"):
            LearnableTemperature(initial_temperature=0)
        with pytest.raises(ValueError, match="should be >= `min_temperature`"):
            LearnableTemperature(initial_temperature=0.01, min_temperature=0.05)


class TestErrors:
    def setup_method(self):
        self.ids, self.embeddings = _random_batch(15, [2, 2])

    def test_wrong_embedding_rank(self):
        with pytest.raises(ValueError, match=r"`y_pred` should be embeddings of shape \(N, D\)"):
            multi_positive_contrastive_loss(self.ids, self.embeddings[None])

    def test_wrong_label_rank(self):
        with pytest.raises(ValueError, match=r"`y_true` should be integer group ids of shape"):
            multi_positive_contrastive_loss(np.zeros((4, 2), "int32"), self.embeddings)

    def test_mismatched_rows(self):
        with pytest.raises(ValueError, match="3 group ids for 4 embeddings"):
            multi_positive_contrastive_loss(self.ids[:3], self.embeddings)

    def test_float_labels(self):
        with pytest.raises(TypeError, match="integer group ids.*Received dtype float32"):
            MultiPositiveContrastiveLoss()(self.ids.astype("float32"), self.embeddings)

    @pytest.mark.parametrize("temperature", [0, -0.1, 0.0])
    def test_non_positive_temperature(self, temperature):
        with pytest.raises(ValueError, match="`temperature` should be a positive float"):
            MultiPositiveContrastiveLoss(temperature=temperature)
        with pytest.raises(ValueError, match="`temperature` should be a positive float"):
            multi_positive_contrastive_loss(self.ids, self.embeddings, temperature=temperature)

    def test_non_numeric_temperature(self):
        with pytest.raises(TypeError, match="`temperature` should be a positive float"):
            MultiPositiveContrastiveLoss(temperature="0.05")

    def test_unknown_variant(self):
        with pytest.raises(ValueError, match="`variant` should be one of"):
            MultiPositiveContrastiveLoss(variant="infonce")

    def test_unknown_anchors(self):
        with pytest.raises(ValueError, match="`anchors` should be one of"):
            MultiPositiveContrastiveLoss(anchors="last")

    def test_unknown_reduction(self):
        with pytest.raises(ValueError, match="`reduction` should be one of"):
            MultiPositiveContrastiveLoss(reduction="max")

    def test_bad_sample_weight_shape(self):
        with pytest.raises(ValueError, match="`sample_weight` should be a scalar or one weight"):
            MultiPositiveContrastiveLoss()(self.ids, self.embeddings, np.ones((4, 2)))


class TestHostileInputs:
    """Issue #11: inputs that used to give a wrong loss or a raw backend error."""

    def setup_method(self):
        self.ids, self.embeddings = _random_batch(21, [2, 2, 3])

    def test_int64_ids_beyond_int32_stay_distinct(self):
        # 2**32 used to become 0 (the same group as id 0) and 2**32 - 1 padding.
        want = _numpy(multi_positive_contrastive_loss(self.ids, self.embeddings))
        big = self.ids.astype("int64") * 2**32 + (self.ids == 2) * (2**32 - 1)
        assert len(set(big.tolist())) == 3
        if keras.backend.backend() == "jax":
            import jax

            if not jax.config.jax_enable_x64:
                with pytest.raises(ValueError, match="beyond int32.*Renumber the groups"):
                    multi_positive_contrastive_loss(big, self.embeddings)
                return
        got = _numpy(multi_positive_contrastive_loss(big, self.embeddings))
        np.testing.assert_allclose(got, want, rtol=1e-6)

    def test_narrow_and_unsigned_ids(self):
        want = _numpy(multi_positive_contrastive_loss(self.ids, self.embeddings))
        for dtype in ("int8", "int16", "uint8"):
            got = multi_positive_contrastive_loss(self.ids.astype(dtype), self.embeddings)
            np.testing.assert_allclose(_numpy(got), want, rtol=1e-6)
        with pytest.raises(TypeError, match="uint64.*pass int64"):
            multi_positive_contrastive_loss(self.ids.astype("uint64"), self.embeddings)

    def test_numpy_scalar_options(self):
        loss = MultiPositiveContrastiveLoss(temperature=np.float32(0.1), margin=np.float64(0.2))
        assert type(loss.temperature) is float and type(loss.get_config()["margin"]) is float
        want = MultiPositiveContrastiveLoss(temperature=0.1, margin=0.2)
        np.testing.assert_allclose(
            _numpy(loss(self.ids, self.embeddings)), _numpy(want(self.ids, self.embeddings)),
            rtol=1e-6)

    @pytest.mark.parametrize("temperature", [math.inf, math.nan])
    def test_non_finite_temperature(self, temperature):
        with pytest.raises(ValueError, match="positive float, finite"):
            MultiPositiveContrastiveLoss(temperature=temperature)

    @pytest.mark.parametrize("margin", [math.inf, math.nan])
    def test_non_finite_margin(self, margin):
        with pytest.raises(ValueError, match="`margin` should be a finite float"):
            MultiPositiveContrastiveLoss(margin=margin)

    def test_nan_in_a_padding_row_leaves_gradients_finite(self):
        ids = np.array([0, 0, 1, 1, -1], "int32")
        embeddings = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
        embeddings[4] = np.nan
        loss_fn = MultiPositiveContrastiveLoss()
        clean = _gradient_by_sgd_step(loss_fn, ids[:4], embeddings[:4])
        padded = _gradient_by_sgd_step(loss_fn, ids, embeddings)
        assert np.isfinite(padded[:4]).all()
        np.testing.assert_allclose(padded[:4], clean, rtol=1e-4, atol=1e-6)

    def test_sample_weight_of_the_wrong_length(self):
        with pytest.raises(ValueError, match=r"N = 7 rows. Received: shape \(5,\)"):
            MultiPositiveContrastiveLoss()(self.ids, self.embeddings, np.ones(5, "float32"))
