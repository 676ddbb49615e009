"""No API key in any log line, exception, repr or output file of the whole test session.

The watching is done by the plugin ``tests/reliability_secrets.py`` (registered in
``tests/conftest.py``) over every test that runs; this test runs last and reads what it
collected, then scans every file written under the session's temporary directory.
It also runs the CLI request commands and a failing client itself with a key of its
own, so the check is never empty, and proves the scanner finds a planted leak.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from boxmask import errors
from boxmask.api import Client, RetryPolicy
from boxmask.cli.main import main
from boxmask.testing.scenes import make_scene
from boxmask.testing.server import FakeGemini
from tests.reliability_secrets import SecretWatch, watch

CANARY = "AIzaSy-canary-0123456789-reliability"


def _exercise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests with the canary key that log, retry, fail and write files."""
    monkeypatch.chdir(tmp_path)  # the answers journal of detect/point lands here
    images = []
    for i in range(2):
        images.append(tmp_path / f"scene{i}.png")
        images[-1].write_bytes(make_scene(i, n_shapes=2).encode("PNG"))
    with FakeGemini(api_keys=[CANARY]) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", CANARY)
        monkeypatch.setenv("BOXMASK_BASE_URL", fake.base_url)
        fake.add_fault("status", status=503, times=2)  # retries are logged
        out = tmp_path / "out"
        args = ["--coco", str(out / "c.json"), "--overlay", str(out / "ov"), "--json"]
        assert main(["segment", *map(str, images), "shapes", *args]) == 0
        assert main(["detect", str(images[0]), "shapes", "--json"]) == 0
        assert main(["point", str(images[0]), "shapes"]) == 0
        assert main(["ask", str(images[0]), "What is this?"]) == 0
        fake.add_fault("status", status=400, message=f"echo {CANARY} back", times=1)
        assert main(["detect", str(images[1]), "shapes"]) == 1  # the error is printed
        policy = RetryPolicy(max_retries=1, initial_delay=0.001)
        with Client(CANARY, base_url=fake.base_url, retry=policy) as client:
            logging.getLogger("boxmask.api").info("client %r", client)
            fake.add_fault("drop", times=2)
            with pytest.raises(errors.ApiConnectionError):
                client.ask(images[0].read_bytes(), "hi")
            client.files.upload(images[0], display_name="scene")
        with Client("wrong-" + CANARY, base_url=fake.base_url) as client:
            with pytest.raises(errors.AuthenticationError) as info:
                client.ask(images[0].read_bytes(), "hi")
            assert "wrong-" not in str(info.value)
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(errors.MissingApiKeyError):
        Client(base_url="http://127.0.0.1:9").ask(images[0].read_bytes(), "x")


def test_the_scanner_finds_a_planted_key(tmp_path: Path) -> None:
    probe = SecretWatch(keys={"planted-key"})
    probe.add("a log line", "calling with key planted-key")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "out.json").write_text(json.dumps({"k": "planted-key"}))
    assert [w for w, _ in probe.leaks()] == ["a log line"]
    assert [Path(w).name for w, _ in probe.scan_tree(tmp_path)] == ["out.json"]
    probe.pending.append(("an error", errors.ApiError("key=planted-key")))
    assert len(probe.leaks()) == 2


def test_no_api_key_leaked(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Runs last (the plugin moves it): checks the whole session so far."""
    _exercise(tmp_path, monkeypatch)
    captured = capsys.readouterr()
    seen = watch()
    seen.add("this test's stdout", captured.out)
    seen.add("this test's stderr", captured.err)
    assert CANARY in seen.keys and "test-key" in seen.keys
    assert "echo" in captured.err  # the server's message reached the user, scrubbed
    leaks = seen.leaks()
    files = seen.scan_tree(tmp_path_factory.getbasetemp())  # this session's files
    assert seen.records > 0 and seen.scanned_files > 0
    report = "\n".join(f"{where}: ...{text[:300]}..." for where, text in leaks + files)
    assert not leaks and not files, f"API key found in:\n{report}"
