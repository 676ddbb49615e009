"""Fuzzing inside the test suite, and one regression test per bug the fuzzers found.

- Every fuzz target (``fuzz/targets.py``) replays the committed seed corpus
  (``fuzz/corpus/<target>/``) and every saved crash (``tests/fuzz_regressions/<target>/``),
  then runs on a fixed number of hypothesis byte strings (derandomized: the same
  examples on every run, so a failure here is reproducible, not flaky).
- Hypothesis strategies of broken answers (``tests/fuzz_strategies.py``) go through
  ``parse`` and the exporters with the same invariants.
- The longer, coverage-guided run is ``make fuzz`` (atheris; see ``fuzz/run.py``).
"""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from fuzz.targets import SEED_PNGS, TARGETS, check_detections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxmask import ParseError, parse
from boxmask.answer import read_answer
from boxmask.envelopes import is_envelope, read_response
from boxmask.errors import ExportError
from boxmask.export.coco import CocoDataset
from boxmask.export.rle import counts_from_string, rle_area, rle_to_crop
from boxmask.masks.polygon import MAX_WALK, rasterize_polygon
from boxmask.problems import ProblemKind
from tests.fuzz_strategies import answers

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
REGRESSIONS = Path(__file__).resolve().parent / "fuzz_regressions"

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _inputs(name: str) -> list[Path]:
    found = []
    for folder in (CORPUS / name, REGRESSIONS / name):
        if folder.is_dir():
            found.extend(sorted(p for p in folder.iterdir() if p.is_file()))
    return found


def test_every_target_has_a_seed_corpus() -> None:
    for name in TARGETS:
        assert len(list((CORPUS / name).glob("*"))) >= 5, name
    assert set(p.name for p in REGRESSIONS.iterdir()) <= set(TARGETS)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_replays_corpus_and_crashes(name: str) -> None:
    target = TARGETS[name]
    inputs = _inputs(name)
    assert inputs
    for path in inputs:
        try:
            target(path.read_bytes())
        except BaseException as exc:  # name the input that failed
            raise AssertionError(f"{name} fails on {path.relative_to(ROOT)}: {exc!r}") from exc


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_on_hypothesis_bytes(name: str) -> None:
    target = TARGETS[name]

    @FUZZ
    @given(st.binary(min_size=0, max_size=600))
    def run(data: bytes) -> None:
        target(data)

    run()


@FUZZ
@given(answers(), st.sampled_from([(1, 1), (7, 3), (640, 480), (4032, 3024)]))
def test_parse_keeps_its_invariants_on_broken_answers(
    answer: object, size: tuple[int, int]
) -> None:
    try:
        d = parse(answer, width=size[0], height=size[1])  # type: ignore[arg-type]
    except ParseError:
        return
    check_detections(d, answer)
    dataset = CocoDataset()
    dataset.add(d, file_name="x.jpg")
    json.dumps(dataset.to_dict(), allow_nan=False)


def test_the_invariant_checker_can_fail() -> None:
    """check_detections must catch a silently dropped item (the tests above rely on it)."""
    answer = [{"box_2d": [1, 2, 3, 4], "label": "a"}, {"box_2d": [5, 6, 7, 8], "label": "b"}]
    d = parse(answer, width=10, height=10)
    check_detections(d, answer)
    with pytest.raises(AssertionError, match="vanished"):
        check_detections(d[:1], answer)


# ------------------------------------------------------------- found by fuzzing
# Each test names the input class the fuzzers produced; the saved inputs are in
# tests/fuzz_regressions/ and replay above.


@pytest.mark.parametrize(
    "envelope",
    [
        {"outputs": 5},  # Interactions step content that is not a list
        {"steps": [{"type": "model_output", "content": 7}]},
        {"status": "failed", "steps": [], "errors": 5},  # errors that is not a list
        {"status": "failed", "steps": [], "errors": "quota exceeded"},
        {"choices": {"0": 1}},  # chat completion choices that are not a list
        {"choices": 5},
        {"response": [{"candidates": []}, 5]},  # stream chunk that is not an object
    ],
)
def test_mistyped_envelope_fields_are_parse_errors_not_crashes(envelope: dict[str, object]) -> None:
    for form in (envelope, json.dumps(envelope)):
        with pytest.raises(ParseError):
            read_answer(form)  # type: ignore[arg-type]
    if is_envelope(envelope):
        with contextlib.suppress(ParseError):
            assert isinstance(read_response(envelope).text, str)


def test_failed_interaction_with_a_string_error_keeps_its_message() -> None:
    with pytest.raises(ParseError, match="quota exceeded"):
        read_answer({"status": "failed", "steps": [], "errors": "quota exceeded"})


def test_response_nesting_deeper_than_the_recursion_limit() -> None:
    value: object = {"box_2d": [1, 2, 3, 4]}
    for _ in range(5000):
        value = {"response": value}
    assert not is_envelope(value)
    with pytest.raises(ParseError):
        read_answer(value)  # type: ignore[arg-type]
    cyclic: dict[str, object] = {}
    cyclic["response"] = cyclic
    assert not is_envelope(cyclic)


def test_polygon_with_huge_coordinates_is_a_problem_not_a_segfault() -> None:
    """Vertices at 1e30 overflowed the boundary walk's int64 counts: numpy.repeat got
    negative (or wrapped) lengths and the process died with SIGSEGV."""
    items = [
        {"mask": [[-(10**30), 834], [2**63, 1000], [276, 110]], "label": "a"},
        {"mask": [[0, 0], [10**7, 0], [0, 10**7]], "label": "b"},  # 40 GB walk before
        {"box_2d": [1, 2, 3, 4], "label": "ok"},
    ]
    d = parse(items, width=1001, height=240)
    check_detections(d, items)
    assert d.labels == ["a", "b", "ok"]  # the boxes (clamped) stay
    kinds = {(p.index, p.kind) for p in d.problems}
    assert (0, ProblemKind.BAD_MASK) in kinds and (1, ProblemKind.BAD_MASK) in kinds
    assert "too long to rasterize" in str(d.problems)
    with pytest.raises(ValueError, match="too long"):
        rasterize_polygon([[0, 0], [MAX_WALK, 0], [0, 1]], 10, 10)


def test_png_mask_in_a_box_far_outside_the_image_is_reported() -> None:
    """A box at 1e30 gave paste sizes OpenCV could not take (cv2.error escaped parse);
    at 1e5 it resized the mask to 400k x 300k pixels first."""
    png = base64.b64encode(SEED_PNGS[0]).decode()
    items = [
        {"box_2d": [0, 0, 10**30, 10**30], "mask": png, "label": "a"},
        {"box_2d": [0, 0, 100000, 100000], "mask": png, "label": "b"},
        {"box_2d": [-500, -500, 1500, 1500], "mask": png, "label": "c"},  # still decoded
    ]
    with np.errstate(all="raise"):  # no overflow warnings either
        d = parse(items, width=4032, height=3024)
    check_detections(d, items)
    assert d.masks is not None
    assert [bool(d.masks.crop(i)[2].size) for i in range(3)] == [False, False, True]
    messages = [p.message for p in d.problems if p.kind == ProblemKind.BAD_MASK]
    assert len(messages) == 2 and all("far outside 0-1000" in m for m in messages)


@pytest.mark.parametrize(
    "rle",
    [
        {"size": [2, 2], "counts": "\xfa\x80"},  # non-ASCII counts string
        {"size": [2, 2], "counts": None},
        {"size": [2, 2], "counts": ["x"]},
        {"size": [2, 2], "counts": [2**64]},
        {"size": [2, 2], "counts": []},
        {"size": [2**31, 2**31], "counts": [0, 2**62]},  # a 4.6e18-pixel mask
    ],
)
def test_bad_rle_is_an_export_error(rle: dict[str, object]) -> None:
    with pytest.raises(ExportError):
        rle_to_crop(rle)
    if rle["counts"] == [0, 2**62]:
        assert rle_area(rle) == 2**62  # counted, never decoded
    else:
        with pytest.raises(ExportError):
            rle_area(rle)
    with pytest.raises(ExportError):
        counts_from_string("é")


def test_deeply_nested_label_and_huge_values_stay_short_in_problems() -> None:
    label: object = []
    for _ in range(5000):
        label = [label]
    huge = "9" * 1_000_000 + "x"
    items = [
        {"box_2d": [1, 2, 3, 4], "label": label},
        {"box_2d": [huge, 2, 3, 4], "label": "b", "confidence": huge},
    ]
    d = parse(items, width=10, height=10)
    check_detections(d, items)
    assert len(d.labels[0]) < 100
    assert all(len(p.message) < 300 for p in d.problems)
    assert parse([{"box_2d": [1, 2, 3, 4], "label": 7}], width=5, height=5).labels == ["7"]
