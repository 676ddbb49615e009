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
import re
from pathlib import Path
from typing import Any

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


KEY_FILE_KEY = "AIzaSy-keyfile-9876543210-strip"
_RAW_CONTROL = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069]")


def test_a_key_read_from_a_file_or_the_environment_is_stripped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = make_scene(1, n_shapes=2).encode("PNG")
    key_file = tmp_path / "key.txt"
    key_file.write_text(KEY_FILE_KEY + "\n")
    with FakeGemini(api_keys=[KEY_FILE_KEY]) as fake:
        key = key_file.read_text()
        key_file.unlink()  # the secret scan reads every file the session leaves
        with Client(key, base_url=fake.base_url) as client:
            assert "2 shape(s)" in client.ask(image, "Describe")
        monkeypatch.setenv("GEMINI_API_KEY", f"  {KEY_FILE_KEY}\r\n")
        with Client(base_url=fake.base_url) as client:
            assert "2 shape(s)" in client.ask(image, "Describe")


@pytest.mark.parametrize("inside", ["\n", "\r", "\x00", "\x1b", "\t", "\x7f", "\u00e9"])
def test_a_key_with_a_control_character_is_a_typed_error_that_shows_no_key(
    inside: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import traceback

    head, tail = "AIzaSy-split-key-", "0123456789-tail"
    bad = head + inside + tail
    with pytest.raises(errors.InvalidApiKeyError) as info:
        Client(bad)
    shown = str(info.value) + repr(info.value) + "".join(traceback.format_exception(info.value))
    assert "cannot be sent in a header" in shown
    assert head not in shown and tail not in shown
    if inside == "\x00":
        return  # an environment variable cannot hold a NUL byte
    image = tmp_path / "scene.png"
    image.write_bytes(make_scene(2, n_shapes=1).encode("PNG"))
    with FakeGemini(api_keys=["unused"]) as fake, caplog.at_level(logging.DEBUG):
        monkeypatch.setenv("GEMINI_API_KEY", bad)
        with Client(base_url=fake.base_url) as client, pytest.raises(errors.InvalidApiKeyError):
            client.ask(image.read_bytes(), "hi")
        monkeypatch.setenv("BOXMASK_BASE_URL", fake.base_url)
        assert main(["ask", str(image), "hi"]) == 1
        assert fake.requests == []  # refused before anything was sent
    out, err = capsys.readouterr()
    assert "GEMINI_API_KEY holds a" in err
    logged = " ".join(r.getMessage() for r in caplog.records)
    for text in (out, err, logged):
        assert head not in text and tail not in text


HOSTILE_LABEL = "\x1b[2J\x1b]52;c;ZXZpbA==\x07cup\x9b31m\u202eevil\r\x08"


def test_model_text_cannot_drive_the_terminal(
    stub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.http_stub import generate_content_answer

    items = [{"box_2d": [100, 100, 500, 500], "label": HOSTILE_LABEL}, {"box_2d": "x"}]
    answer = json.dumps(items)
    caption = f"A caption\nwith two lines {HOSTILE_LABEL}"

    def handler(h: Any) -> None:
        text = caption if b"Describe" in h.body else answer
        h.reply_json(generate_content_answer(text))

    stub.handler = handler
    image = tmp_path / f"scene{HOSTILE_LABEL[:4]}.png"
    image.write_bytes(make_scene(3, n_shapes=1).encode("PNG"))
    answer_file = tmp_path / "answer\x1b[2J.json"  # file names reach the terminal too
    answer_file.write_text(answer)
    monkeypatch.setenv("GEMINI_API_KEY", "stub-key")
    monkeypatch.setenv("BOXMASK_BASE_URL", stub.url)
    monkeypatch.chdir(tmp_path)  # the request journal's default place is the working folder
    api = ["--api", "generate_content"]
    runs = [
        ["detect", str(image), "cups", *api],
        ["detect", str(image), "cups", "--json", *api],
        ["ask", str(image), "Describe", *api],
        ["ask", str(image), "Describe", "--json", *api],
        ["parse", str(answer_file), "--size", "100x100"],
        ["parse", str(answer_file), "--size", "100x100", "--json"],
    ]
    for args in runs:
        main(args)
        out, err = capsys.readouterr()
        assert not _RAW_CONTROL.search(out + err), (args, out + err)
        assert "\\x1b[2J" in out or "\\u001b[2J" in out, (args, out)
    main(["ask", str(image), "Describe", *api])
    assert capsys.readouterr().out.startswith("A caption\nwith two lines")  # newlines kept


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
