"""Issue #11: a streamed corpus that cannot fill a batch fails fast; blanked groups are said.

Not marked `backend_independent`: cheap enough to run under every backend,
as the issue asks of each of its regression tests.
"""

import threading
import time

import numpy as np
import pytest

from keras_mpcl.data import StreamingTranslationGroups
from keras_mpcl.data import group_dataset
from tests.data.test_streaming import _files


def _timed(function, seconds=20):
    """Runs `function` in a daemon thread: a spinning pipeline fails the test, not the suite."""
    outcome = {}

    def target():
        try:
            function()
            outcome["error"] = None
        except Exception as error:  # handed back to the test
            outcome["error"] = f"{type(error).__name__}: {error}"

    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"no answer within {seconds} s: the pipeline spins")
    return outcome["error"], time.monotonic() - start


@pytest.mark.parametrize("epochs", [1, None])
def test_no_usable_group_is_an_error(tmp_path, epochs):
    # Every group has one member: nothing to contrast.
    files = _files(tmp_path, {"en": ["a", "", "c"], "de": ["", "y", ""]})
    groups = StreamingTranslationGroups(files)
    with pytest.raises(ValueError, match=r"No group of the streamed corpus \(3 lines\) has at "
                                         r"least 2 members.*lower `group_size`"):
        group_dataset(groups, groups_per_batch=2, group_size=2, seed=0, epochs=epochs)


def test_too_few_groups_to_drop_the_remainder_is_an_error(tmp_path):
    files = _files(tmp_path, {"en": ["a", "b", "c"], "de": ["x", "y", "z"]})
    groups = StreamingTranslationGroups(files)

    def build():
        group_dataset(groups, groups_per_batch=4, group_size=2, seed=0, epochs=None,
                      remainder="drop")

    error, seconds = _timed(build)
    assert error is not None and "exceeds the 3 usable groups" in error, error
    assert "remainder='pad'" in error and seconds < 20
    # With enough groups the same settings yield full batches.
    dataset = group_dataset(groups, groups_per_batch=3, group_size=2, seed=0, epochs=None,
                            remainder="drop")
    texts, ids = next(iter(dataset.as_numpy_iterator()))
    assert sorted(set(ids.tolist())) == [0, 1, 2]


def test_blanked_duplicate_groups_are_reported(tmp_path, capfd):
    # Lines 0 and 1 share "same": the later group is blanked in their batch.
    files = _files(tmp_path, {"en": ["same", "same", "c", "d"], "de": ["x", "y", "z", "w"]})
    dataset = group_dataset(StreamingTranslationGroups(files), groups_per_batch=4,
                            group_size=2, seed=0, shuffle=False, sampling="fixed")
    ((texts, ids),) = list(dataset.as_numpy_iterator())
    assert sorted(set(ids.tolist()) - {-1}) == [0, 2, 3]
    err = capfd.readouterr().err
    assert "batch 0 - 1 group(s) repeat a text of an earlier group" in err, err
    assert "3 group(s) left" in err
    np.testing.assert_array_equal(ids.reshape(4, 2)[1], [-1, -1])
