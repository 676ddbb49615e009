"""``boxmask eval`` through a real subprocess: figures, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from boxmask.evaluation import STAT_NAMES
from tests.eval_data import make_case, reference_stats


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", "eval", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("eval")
    case = make_case(12, seed=21, masks="polygon")
    case.write(root)
    (root / "ignore-blob.json").write_text(json.dumps({"blob": None}))
    return root, case


def test_json_equals_cocoeval_on_independent_results(case_dir: tuple[Path, object]) -> None:
    root, case = case_dir
    out = run("gt.json", "manifest.jsonl", "--json", cwd=root)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for iou_type, results, tolerance in (
        ("bbox", case.bbox_results, 1e-3),  # type: ignore[attr-defined]
        ("segm", case.segm_results, 0.01),  # type: ignore[attr-defined]
    ):
        ours = np.array([data[iou_type][name] for name in STAT_NAMES])
        np.testing.assert_allclose(
            ours,
            reference_stats(case.gt, results, iou_type),
            atol=tolerance,  # type: ignore[attr-defined]
        )
    assert data["matching"]["images_evaluated"] == 12
    assert data["notes"][0].startswith("scores:")


def test_text_report_plots_and_labels(case_dir: tuple[Path, object], tmp_path: Path) -> None:
    root, _ = case_dir
    labels = tmp_path / "map.json"
    labels.write_text(json.dumps({"blob": None}))
    out = run(
        "gt.json", "answers", "--plots", str(tmp_path / "pr"), "--labels", str(labels), cwd=root
    )
    assert out.returncode == 0, out.stderr
    assert "per category (bbox, worst AP first)" in out.stdout
    assert "AP50" in out.stdout and "worst images" in out.stdout
    assert "precision-recall plots: 6 PNG(s)" in out.stdout
    assert len(list((tmp_path / "pr").glob("pr_*.png"))) == 6
    assert "matching no GT category" not in out.stdout  # "blob" is ignored on purpose


def test_compare_json_and_text(case_dir: tuple[Path, object]) -> None:
    root, _ = case_dir
    out = run("gt.json", "manifest.jsonl", "--compare", "answers", "--json", cwd=root)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["bbox"]["metric_deltas"]["AP"] == pytest.approx(0.0)
    assert {"a", "b", "bbox", "segm"} <= set(data)
    text = run("gt.json", "manifest.jsonl", "--compare", "answers", "--bbox-only", cwd=root)
    assert "B - A" in text.stdout and "segm:" not in text.stdout


def test_strict_exits_1_when_something_did_not_match(case_dir: tuple[Path, object]) -> None:
    root, case = case_dir
    out = run("gt.json", "manifest.jsonl", "--strict", cwd=root)
    unknown = any(
        item["label"] == "blob"
        for items in case.answers.values()  # type: ignore[attr-defined]
        for item in items
    )
    assert unknown  # the case has predictions labelled "blob"
    assert out.returncode == 1
    mapped = run("gt.json", "manifest.jsonl", "--strict", "--labels", "ignore-blob.json", cwd=root)
    assert mapped.returncode == 0, mapped.stdout
    assert (
        run("gt.json", "manifest.jsonl", "--strict", "--labels", "none.json", cwd=root).returncode
        == 2
    )


@pytest.mark.parametrize(
    ("gt_text", "answers_text", "message"),
    [
        ("[]", None, "is not COCO"),
        ('{"images": [], "annotations": []}', None, "has no categories"),
        (None, "", "no answers in"),
        ("{nope", None, "not JSON"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    case_dir: tuple[Path, object],
    tmp_path: Path,
    gt_text: str | None,
    answers_text: str | None,
    message: str,
) -> None:
    root, _ = case_dir
    gt = root / "gt.json"
    if gt_text is not None:
        gt = tmp_path / "gt.json"
        gt.write_text(gt_text)
    answers = root / "manifest.jsonl"
    if answers_text is not None:
        answers = tmp_path / "answers.jsonl"
        answers.write_text(answers_text)
    out = run(str(gt), str(answers))
    assert out.returncode == 2
    assert message in out.stderr and out.stderr.count("\n") == 1
    assert "Traceback" not in out.stderr


def test_size_disagreement_is_one_line_naming_both_sizes(
    case_dir: tuple[Path, object], tmp_path: Path
) -> None:
    root, case = case_dir
    gt = json.loads(json.dumps(case.gt))  # type: ignore[attr-defined]
    gt["images"][2]["width"] = 640
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    out = run(str(tmp_path / "gt.json"), str(root / "manifest.jsonl"))
    assert out.returncode == 2
    assert "ground truth says 640x240" in out.stderr and "is 320x240" in out.stderr
    assert out.stderr.count("\n") == 1


def test_usage_errors(case_dir: tuple[Path, object]) -> None:
    root, _ = case_dir
    assert run("gt.json", "manifest.jsonl", "--iou", "0.3", cwd=root).returncode == 2
    assert run("gt.json", cwd=root).returncode == 2  # argparse: ANSWERS missing
    assert run("gt.json", "nothing-here", cwd=root).returncode == 2
    listed = subprocess.run(
        [sys.executable, "-m", "boxmask.cli.main", "--help"], capture_output=True, text=True
    )
    assert "eval" in listed.stdout
