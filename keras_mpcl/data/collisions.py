"""Groups sharing a text: merged into the earliest of them, or dropped.

A text in two groups would be a positive of one and a false negative of the
other in a batch holding both, so `TranslationGroups` resolves every shared
text when it is built.
"""

import numpy as np

from keras_mpcl.validation import check_choice

COLLISIONS = ("merge", "drop")


def check_collisions(collisions):
    """Raises `ValueError` unless `collisions` is one of `COLLISIONS`.

    Examples:

    >>> check_collisions("keep")
    Traceback (most recent call last):
    ...
    ValueError: `collisions` should be one of ('merge', 'drop'). Received: `collisions` = 'keep'
    """
    check_choice("collisions", collisions, COLLISIONS)


def resolve_collisions(texts, collisions):
    """Merges or drops groups sharing a text; fills merged rows of `texts` in place.

    `merge` unites groups connected by shared texts into the earliest of them;
    `drop` keeps a group only if none of its texts belongs to an earlier kept
    group.

    Args:
        texts: `(groups, languages)` object array of texts, `""` where a
            group lacks a language.
        collisions: str. `"merge"` or `"drop"`.

    Returns:
        `(kept rows, groups merged, groups dropped, members lost merging)`.

    Examples:

    >>> texts = np.array([["Hi.", "Hallo."], ["Hey.", "Hallo."], ["No.", ""]], object)
    >>> kept, merged, dropped, lost = resolve_collisions(texts.copy(), "merge")
    >>> kept.tolist(), merged, dropped, lost
    ([0, 2], 1, 0, 1)
    >>> resolve_collisions(texts.copy(), "drop")[0].tolist()
    [0, 2]
    """
    if collisions == "drop":
        kept = _drop_collisions(texts)
        return kept, 0, texts.shape[0] - len(kept), 0
    components = _connected_groups(texts)
    kept = np.asarray(sorted(components), dtype=np.int64)
    merged = sum(len(rows) - 1 for rows in components.values())
    return kept, merged, 0, _merge_into_first(texts, components)


def _drop_collisions(texts):
    """Rows kept by `collisions="drop"`: groups sharing no text with an earlier kept one.

    Written by hand: which group survives depends on the order of the earlier
    decisions, which a connected-components labelling does not express.
    """
    owner, keep = set(), []
    for g in range(texts.shape[0]):
        row = [t for t in texts[g] if t]
        if any(t in owner for t in row):
            continue
        owner.update(row)
        keep.append(g)
    return np.asarray(keep, dtype=np.int64)


def _connected_groups(texts):
    """Groups connected by shared texts, as `{first row: all rows}`, rows ascending.

    Groups and distinct texts are the nodes of a bipartite graph with an edge
    from each group to each of its texts; its connected components
    (`scipy.sparse.csgraph.connected_components`) are the groups to merge.
    """
    from scipy import sparse
    from scipy.sparse import csgraph

    num_groups = texts.shape[0]
    rows, columns = np.nonzero(texts != "")
    text_ids = {}
    nodes = [text_ids.setdefault(t, len(text_ids)) for t in texts[rows, columns]]
    text_nodes = num_groups + np.asarray(nodes, np.int64)
    graph = sparse.coo_matrix(
        (np.ones(len(nodes), np.int32), (rows, text_nodes)),
        shape=(num_groups + len(text_ids),) * 2,
    )
    _, labels = csgraph.connected_components(graph, directed=False)
    components = {}
    for g, label in enumerate(labels[:num_groups]):
        components.setdefault(label, []).append(g)
    return {members[0]: members for members in components.values()}


def _merge_into_first(texts, components):
    """Fills each component's first row with its other rows' texts; returns members lost.

    The first row keeps its own text of a language, else the first text of
    that language among the later rows; every other differing text is lost.
    """
    lost = 0
    for first, rows in components.items():
        for row in rows[1:]:
            for column, text in enumerate(texts[row]):
                if not text:
                    continue
                if not texts[first, column]:
                    texts[first, column] = text
                elif texts[first, column] != text:
                    lost += 1
    return lost
