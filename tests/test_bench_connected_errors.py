"""bench.connected_digit_errors: the alignment and the counts it reports."""

import numpy as np

from bench import connected_digit_errors as errors
from recipes.connected_digits import edit_distance


def test_align_marks_each_kind_of_error():
    assert errors.align([4, 0, 7, 1], [4, 2, 7, 1]) == [
        (4, 4),
        (0, 2),
        (7, 7),
        (1, 1),
    ]
    assert errors.align([4, 0, 7], [4, 7]) == [(4, 4), (0, None), (7, 7)]
    assert errors.align([9], [9, 1]) == [(9, 9), (None, 1)]
    assert errors.align([], [3]) == [(None, 3)]


def test_error_counts_add_up_to_the_edit_distance():
    rng = np.random.default_rng(0)
    references = [
        list(rng.integers(10, size=rng.integers(1, 8))) for _ in range(50)
    ]
    hypotheses = [
        [d for d in r if rng.uniform() > 0.2]
        + list(rng.integers(10, size=rng.integers(0, 2)))
        for r in references
    ]
    counts = errors.error_counts(references, hypotheses)
    assert counts["errors"] == sum(
        edit_distance(r, h) for r, h in zip(references, hypotheses)
    )
    assert counts["errors"] == (
        sum(sum(c.values()) for c in counts["substituted"].values())
        + sum(counts["deleted"].values())
        + sum(counts["inserted"].values())
    )
    assert sum(counts["reference"].values()) == sum(map(len, references))


def test_greedy_merges_repeats_and_drops_blanks():
    classes = [[4, 4, 10, 4, 0, 7, 7, 10], [9, 10, 10, 1, 1, 2, 2, 2]]
    probabilities = np.eye(11)[classes]
    # The second row's last three frames are padding.
    assert errors.greedy(probabilities, [8, 5]) == [[4, 4, 0, 7], [9, 1]]
