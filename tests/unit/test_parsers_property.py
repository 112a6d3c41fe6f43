"""Property tests: on any input, the parsers succeed or raise DataError, nothing else."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancevad.data.groundtruth import read_ground_truth, read_temporal_annotations
from glancevad.data.lengths import read_frame_counts, read_snippet_counts
from glancevad.data.lists import read_video_list
from glancevad.data.scores import read_scores
from glancevad.errors import DataError
from glancevad.glance import read_glances, write_glances

PARSERS = [
    read_glances, read_video_list, read_ground_truth, read_temporal_annotations,
    read_snippet_counts, read_frame_counts, read_scores,
]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that looks like our files: headers, separators, numbers, quotes, JSON punctuation.
tokens = st.sampled_from([
    "video-id", "glance", "label", "num_snippets_T", "num_frames", ",", "\n", " ", "\"", "-1", "0",
    "7", "3.5", "abnormal", "x", "{", "}", "[", "]", ":", '"labels"', "Cls/a.mp4", "\r\n", "\x00", "nan",
])
structured_text = st.lists(tokens, max_size=40).map("".join)


def _assert_parses_or_data_error(parser, path):
    try:
        parser(path)
    except DataError as exc:
        assert str(path) in str(exc), str(exc)  # the message names the file it is about


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), structured_text))
def test_text_inputs_only_raise_data_error(tmp_path, text):
    path = tmp_path / "input.txt"
    path.write_text(text, encoding="utf-8")
    for parser in PARSERS:
        _assert_parses_or_data_error(parser, path)


@SETTINGS
@given(blob=st.binary(max_size=200))
def test_binary_inputs_only_raise_data_error(tmp_path, blob):
    path = tmp_path / "input.bin"
    path.write_bytes(blob)
    for parser in PARSERS:
        _assert_parses_or_data_error(parser, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(value=json_values)
def test_any_json_document_only_raises_data_error(tmp_path, value):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(value))
    for parser in (read_ground_truth, read_scores):
        _assert_parses_or_data_error(parser, path)


ids = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s and s != ""
)


@SETTINGS
@given(glances=st.dictionaries(ids, st.lists(st.integers(0, 10**7), min_size=1, max_size=5), max_size=8))
def test_glance_csv_round_trip(tmp_path, glances):
    path = write_glances(tmp_path / "g.csv", glances)
    assert read_glances(path) == {v: tuple(sorted(set(f))) for v, f in glances.items()}


@SETTINGS
@given(labels=st.dictionaries(ids, st.lists(st.integers(0, 1), min_size=1, max_size=64), max_size=5))
def test_ground_truth_round_trip(tmp_path, labels):
    from glancevad.data.groundtruth import write_ground_truth

    path = write_ground_truth(tmp_path / "gt.json", {v: np.array(x, np.uint8) for v, x in labels.items()})
    again = read_ground_truth(path)
    assert {v: a.tolist() for v, a in again.items()} == labels
