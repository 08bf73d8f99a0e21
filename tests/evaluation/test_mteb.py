"""MTEBEncoder against a fake task structure shaped like MTEB's evaluators."""

import dataclasses

import numpy as np
import pytest

from keras_mpcl.evaluation import MTEBEncoder
from keras_mpcl.evaluation import spearman
from tests.evaluation.helpers import bag_of_chars

# NumPy / tf.data / Python only: scripts/test.sh runs these once.
pytestmark = pytest.mark.backend_independent


@dataclasses.dataclass
class FakeMetadata:
    name: str
    type: str


class FakeSTSTask:
    """Calls `encode` like mteb 1.x's STS evaluator does."""

    metadata = FakeMetadata("FakeSTS", "STS")

    def __init__(self):
        self.s1 = ["the cat", "a dog", "red sun"]
        self.s2 = ["THE CAT", "a dig", "blue tree"]
        self.scores = [5.0, 3.0, 0.0]

    def evaluate(self, model):
        e1 = model.encode(self.s1, task_name=self.metadata.name, batch_size=2)
        e2 = model.encode(self.s2, task_name=self.metadata.name, batch_size=2)
        return {
            "cosine_spearman": spearman(model.similarity_pairwise(e1, e2), self.scores)
        }


class FakeBitextTask:
    """Calls `encode` like mteb 2.x: batches with a `text` field."""

    metadata = FakeMetadata("FakeBitext", "BitextMining")

    def evaluate(self, model):
        def loader(texts):
            return [{"text": texts[i : i + 2]} for i in range(0, len(texts), 2)]

        src = model.encode(
            loader(["one", "two", "three"]),
            task_metadata=self.metadata,
            hf_split="test",
            hf_subset="default",
            prompt_type=None,
        )
        trg = model.encode(
            loader(["ONE", "TWO", "THREE"]),
            task_metadata=self.metadata,
            hf_split="test",
            hf_subset="default",
            prompt_type=None,
        )
        best = model.similarity(src, trg).argmax(axis=1)
        return {"accuracy": float(np.mean(best == np.arange(3)))}


def test_fake_tasks_run_through_the_adapter():
    model = MTEBEncoder(bag_of_chars, batch_size=8)
    assert FakeSTSTask().evaluate(model)["cosine_spearman"] == 1.0
    assert FakeBitextTask().evaluate(model)["accuracy"] == 1.0
    out = model.encode(["a", "b"])
    assert out.dtype == np.float32 and out.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_prompts_and_errors():
    seen = []

    def encode(texts):
        seen.extend(texts)
        return np.ones((len(texts), 2))

    model = MTEBEncoder(encode, prompts={"FakeSTS": "sts: ", "query": "q: "})
    model.encode(["x"], task_name="FakeSTS")
    model.encode(["y"], task_name="Other", prompt_type="query")
    model.encode(["z"])
    assert seen == ["sts: x", "q: y", "z"]
    with pytest.raises(TypeError, match="`text` field"):
        model.encode([3])
