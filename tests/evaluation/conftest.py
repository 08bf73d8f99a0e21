import pytest

from tests.evaluation.helpers import tiny_embedder


@pytest.fixture(scope="session")
def tiny_text_embedder():
    """One tiny keras-hub BertTextEmbedder shared by the Keras integration tests."""
    return tiny_embedder()
