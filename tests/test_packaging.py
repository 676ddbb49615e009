"""The wheel is the product: its metadata, its contents, and a clean install that works.

The fast tests read ``pyproject.toml`` and the source tree. The slow ones build the sdist
and the wheel with ``python -m build`` (the wheel from the sdist, so both are checked),
install the wheel with its runtime dependencies into a new virtual environment, and run
the ``boxmask`` commands from an empty folder outside the repository: the demo on the
bundled fixtures, every command's ``--help``, and ``serve-fake`` answering ``detect``.
"""

from __future__ import annotations

import email
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import boxmask
from boxmask.cli.main import build_parser
from tests.fixture_paths import FIXTURE_IMAGES, FIXTURES, ROOT

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11 (the checks are the same on 3.10)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
RUNTIME = {
    "numpy",
    "pillow",
    "opencv-python-headless",
    "shapely",
    "httpx",
    "tqdm",
    "orjson",
    "zlib-ng",
}


def command_names() -> list[str]:
    """Every ``boxmask`` sub-command, as the parser knows them."""
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return sorted(action.choices)  # type: ignore[arg-type]


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


# ---------------------------------------------------------------- metadata (fast)


def test_version_has_one_source() -> None:
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "boxmask.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", boxmask.__version__)


def test_licence_is_an_spdx_expression_with_its_files() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in PROJECT["classifiers"])  # PEP 639
    for name in PROJECT["license-files"]:
        assert (ROOT / name).is_file(), name
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    requires = PYPROJECT["build-system"]["requires"]
    assert any(re.fullmatch(r"setuptools>=(\d+).*", r) and int(r[12:].split(".")[0]) >= 77
               for r in requires)  # fmt: skip


def test_runtime_dependencies_are_only_the_listed_ones() -> None:
    assert {requirement_name(r) for r in PROJECT["dependencies"]} == RUNTIME


def test_extras_and_classifiers() -> None:
    extras = PROJECT["optional-dependencies"]
    assert {"ray", "heif", "eval", "docs", "dev"} <= set(extras)
    assert "pycocotools" in {requirement_name(r) for r in extras["eval"]}
    classifiers = PROJECT["classifiers"]
    assert "Typing :: Typed" in classifiers
    low = PROJECT["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {low}" in classifiers
    assert PROJECT["scripts"]["boxmask"] == "boxmask.cli.main:main"


def test_every_fixture_file_is_package_data() -> None:
    """A fixture added with a new extension must not silently miss the wheel."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["boxmask"]
    package = ROOT / "src" / "boxmask"
    files = [p.relative_to(package).as_posix() for p in FIXTURES.rglob("*") if p.is_file()]
    assert files and (FIXTURES / "LICENSES.md").is_file()
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not missing, f"not shipped in the wheel: {missing}"
    licences = (FIXTURES / "LICENSES.md").read_text(encoding="utf-8")
    for photo in (FIXTURES / "images").iterdir():
        assert f"`{photo.name}`" in licences, f"{photo.name} has no licence line"


def test_changelog_keeps_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", text, flags=re.M)
    assert headings and headings[0][0] == "Unreleased"
    for version, rest in headings[1:]:
        assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version) and re.fullmatch(
            r" - \d{4}-\d{2}-\d{2}", rest
        ), f"## [{version}]{rest}: want '## [X.Y.Z] - YYYY-MM-DD'"


def test_pre_commit_runs_what_make_test_lints() -> None:
    config = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for command in ("ruff check", "ruff format", "mypy"):
        assert command in makefile and command in config, command


# ---------------------------------------------------------------- the built wheel (slow)


def _run(cmd: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=900, **kwargs
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` of the source tree: an sdist and a wheel built from it."""
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "build", "--outdir", out, ROOT])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    assert "Deprecat" not in log and "SetuptoolsWarning" not in log, [
        line for line in log.splitlines() if "eprecat" in line or "Warning" in line
    ]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (path,) = dist.glob("boxmask-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Iterator[Path]:
    """A new venv (no system site-packages) with the wheel and its runtime deps; its bin/.

    It lives outside pytest's temporary folder: that folder is scanned for leaked API keys
    at the end of the session (tests/reliability_secrets.py), and third-party binaries
    hold arbitrary strings. What boxmask writes from this venv goes under ``tmp_path``.
    """
    with tempfile.TemporaryDirectory(prefix="boxmask-wheel-venv-") as tmp:
        env_dir = Path(tmp)
        venv.create(env_dir, with_pip=True, clear=True)
        bin_dir = env_dir / "bin"
        done = _run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheel])
        assert done.returncode == 0, done.stderr[-3000:]
        yield bin_dir


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """An empty working folder: nothing of the repository is reachable from it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@pytest.mark.slow
def test_wheel_contents_and_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_string(zf.read(meta_name).decode("utf-8"))
    assert "boxmask/py.typed" in names
    package = ROOT / "src" / "boxmask"
    for path in FIXTURES.rglob("*"):
        if path.is_file():
            assert path.relative_to(package.parent).as_posix() in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "benchmarks/", "fuzz/", "tools/")) for n in names)
    assert meta["Version"] == boxmask.__version__
    assert meta["License-Expression"] == "Apache-2.0" and meta["License"] is None
    assert {"ray", "heif", "eval"} <= set(meta.get_all("Provides-Extra") or [])
    base = {requirement_name(r) for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r}
    assert base == RUNTIME
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])
    assert meta["Requires-Python"] == PROJECT["requires-python"]


@pytest.mark.slow
def test_sdist_holds_the_sources_fixtures_and_licences(dist: Path) -> None:
    import tarfile

    (sdist,) = dist.glob("boxmask-*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"LICENSE", "pyproject.toml", "README.md", "src/boxmask/py.typed"} <= names
    assert "src/boxmask/fixtures/LICENSES.md" in names


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_outside_the_repository(
    installed: Path, outside: Path
) -> None:
    where = _run([installed / "python", "-c", "import boxmask; print(boxmask.__file__)"],
                 cwd=outside)  # fmt: skip
    assert where.returncode == 0 and str(installed.parent) in where.stdout, where
    version = _run([installed / "boxmask", "--version"], cwd=outside)
    assert version.stdout.strip() == f"boxmask {boxmask.__version__}"

    done = _run([installed / "boxmask", "demo", "--out", "demo-out"], cwd=outside)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    out = outside / "demo-out"
    coco = json.loads((out / "coco.json").read_text(encoding="utf-8"))
    answers = sorted(p.name for p in (FIXTURES / "answers").iterdir())
    photos = {p.split(".")[0] for p in answers}
    assert {Path(im["file_name"]).stem for im in coco["images"]} == photos
    assert coco["annotations"] and all("bbox" in a for a in coco["annotations"])
    assert len(list((out / "overlays").glob("*.jpg"))) == len(answers)
    assert (out / "yolo" / "data.yaml").is_file()
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["failed"] == 0 and len(report["files"]) == len(answers)
    assert sorted(p.name for p in outside.iterdir()) == ["demo-out"]


@pytest.mark.slow
def test_installed_wheel_answers_every_help(installed: Path, outside: Path) -> None:
    done = _run([installed / "boxmask", "--help"], cwd=outside)
    assert done.returncode == 0 and "usage: boxmask" in done.stdout
    names = command_names()
    assert {"demo", "serve-fake", "convert", "parse", "overlay", "detect"} <= set(names)
    for name in names:
        done = _run([installed / "boxmask", name, "--help"], cwd=outside)
        assert done.returncode == 0, (name, done.stderr)
        assert done.stdout.startswith(f"usage: boxmask {name}"), (name, done.stdout[:200])


@pytest.fixture
def served(installed: Path, outside: Path) -> Iterator[str]:
    """``boxmask serve-fake`` from the installed wheel on a free port; its base URL."""
    server = subprocess.Popen(
        [str(installed / "boxmask"), "serve-fake", "--port", "0", "--duration", "600"],
        cwd=outside,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first + server.stderr.read() if server.stderr else first
        yield match.group(0)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_installed_wheel_serves_the_fake_api(installed: Path, outside: Path, served: str) -> None:
    from boxmask.testing.scenes import make_scene

    scene = make_scene(3, n_shapes=3)
    (outside / "scene.png").write_bytes(scene.encode("PNG"))
    done = _run(
        [
            installed / "boxmask",
            "detect",
            "scene.png",
            "the shapes",
            "--base-url",
            served,
            "--json",
        ],
        cwd=outside,
        env={"GEMINI_API_KEY": "fake-key-for-tests"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fake-key-for-tests" not in done.stdout + done.stderr
    assert json.loads(done.stdout), done.stdout


# ---------------------------------------------------------------- the demo's package data (fast)


def test_demo_runs_on_the_bundled_fixtures_from_any_folder(tmp_path: Path) -> None:
    from boxmask.cli.demo import bundled_fixtures

    with bundled_fixtures() as folder:
        assert (folder / "answers").is_dir() and (folder / "images").is_dir()
    done = _run([sys.executable, "-m", "boxmask.cli.main", "demo", "--out", "o"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "answers/coffee.seg-png.txt" in done.stdout  # named within the fixtures folder
    report = json.loads((tmp_path / "o" / "report.json").read_text(encoding="utf-8"))
    assert len(report["files"]) == len(list((FIXTURES / "answers").iterdir()))


def test_demo_on_a_missing_fixtures_folder_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(
        [sys.executable, "-m", "boxmask.cli.main", "demo", "--fixtures", "nope", "--out", "o"],
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "boxmask: error: fixtures folder nope not found"
    assert not (tmp_path / "o").exists()


def test_bundled_fixtures_copy_out_of_an_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported from a zip, the fixtures are copied to a temporary folder and removed."""
    import io

    from boxmask.cli import demo

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in FIXTURES.rglob("*"):
            if path.is_file():
                zf.write(path, "boxmask/" + path.relative_to(FIXTURES.parent).as_posix())
    archive = zipfile.Path(zipfile.ZipFile(io.BytesIO(buffer.getvalue())), "boxmask/")
    monkeypatch.setattr(demo.resources, "files", lambda _name: archive)
    with demo.bundled_fixtures() as folder:
        assert sorted(p.name for p in (folder / "answers").iterdir()) == sorted(
            p.name for p in (FIXTURES / "answers").iterdir()
        )
        assert (folder / "images" / "coffee.jpg").read_bytes() == (
            FIXTURE_IMAGES / "coffee.jpg"
        ).read_bytes()
    assert not folder.exists()


# ---------------------------------------------------------------- make targets (fast)


def _make_dry_run(target: str, tmp_path: Path) -> str:
    """What ``make TARGET`` would run on a fresh clone (no .venv yet)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (tmp_path / "src" / "boxmask").mkdir(parents=True)
    for name in ("Makefile", "pyproject.toml", "src/boxmask/__init__.py"):
        shutil.copyfile(ROOT / name, tmp_path / name)
    done = _run(["make", "-n", target], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_demo_installs_only_the_runtime(tmp_path: Path) -> None:
    commands = _make_dry_run("demo", tmp_path)
    installs = [line for line in commands.splitlines() if " install " in line]
    assert any(line.rstrip().endswith("install -e .") for line in installs), commands
    assert not any("[" in line for line in installs), installs  # no extras
    assert "boxmask demo --out out" in commands


def test_make_test_installs_every_extra_into_the_same_venv(tmp_path: Path) -> None:
    commands = _make_dry_run("test", tmp_path)
    assert "install -e .\n" in commands  # the runtime stamp first: make demo's venv is reused
    (extras,) = re.findall(r"install -e '\.\[([^\]]+)\]'", commands)
    assert {"dev", "docs", "eval", "ray"} <= set(extras.split(","))
    for step in ("ruff check", "ruff format --check", "mypy", "mkdocs build --strict", "pytest"):
        assert step in commands, step
