"""A pytest plugin that watches the whole test session for a leaked API key.

Registered by ``tests/conftest.py``. While the suite runs it collects:

- every API key the request layer used (``Session.key()``), plus ``test-key``;
- every log record of ``boxmask`` and ``httpx`` (lowered to DEBUG / INFO so that the
  records exist at all), formatted with their arguments;
- the message and repr of every :class:`~boxmask.BoxmaskError` created, and the repr of
  every client and session, turned into text at the end of each test (so no traceback
  keeps a test's frames alive);
- each test's captured stdout, stderr and log sections;
- at the end, every file under the session's temporary directory.

``tests/test_reliability_secrets.py::test_no_api_key_leaked`` runs last and fails with
the places where a key showed up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Keys the suite's own tests hard-code.
KNOWN_KEYS = frozenset({"test-key"})
#: Tests that put a key where it shows on purpose, and why (not through boxmask's code).
DELIBERATE = {
    "tests/test_testing_server.py::test_auth_rules": (
        "calls the fake server with plain httpx and ?key= to test its query-string "
        "authentication; httpx logs that URL"
    ),
}
#: Files larger than this are skipped by the final scan (none of the suite's are).
MAX_FILE_BYTES = 256 * 1024 * 1024


@dataclass
class SecretWatch:
    """What was seen so far, as text with where it came from."""

    keys: set[str] = field(default_factory=lambda: set(KNOWN_KEYS))
    texts: list[tuple[str, str]] = field(default_factory=list)
    pending: list[tuple[str, Any]] = field(default_factory=list)
    scanned_files: int = 0
    records: int = 0
    current: str = "(collection)"

    # -- collecting
    def add(self, where: str, text: str, test: str | None = None) -> None:
        if (test or self.current) in DELIBERATE:
            return
        if text and any(key in text for key in self.keys):
            self.texts.append((where, text))

    def settle(self) -> None:
        """Render what the last test created (exceptions, clients) and let it go."""
        pending, self.pending = self.pending, []
        for where, obj in pending:
            try:
                text = f"{obj!s} | {obj!r}"
                if hasattr(obj, "_session"):
                    text += f" | {obj._session!r}"
            except Exception as exc:  # a repr that fails is worth seeing too
                text = f"<repr failed: {exc!r}>"
            self.add(where, text)

    def leaks(self) -> list[tuple[str, str]]:
        """Places where any key was seen (rechecked: keys learnt late count too)."""
        self.settle()
        return [(w, t) for w, t in self.texts if any(k in t for k in self.keys)]

    def scan_tree(self, root: Path) -> list[tuple[str, str]]:
        found = []
        needles = [k.encode() for k in self.keys]
        for path in _files(root):
            self.scanned_files += 1
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            for needle in needles:
                at = data.find(needle)
                if at != -1:
                    found.append((str(path), data[max(0, at - 60) : at + 60].decode("latin-1")))
        return found


def _files(root: Path) -> Iterator[Path]:
    """Regular files only: a FIFO a test left behind would block the scan forever."""
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_file():
                yield path


class _Handler(logging.Handler):
    def __init__(self, watch: SecretWatch) -> None:
        super().__init__(logging.DEBUG)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        self.watch.records += 1
        try:
            text = f"{record.name}: {record.getMessage()}"
        except Exception:  # a bad format string is not a leak
            text = f"{record.name}: {record.msg!r} {record.args!r}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {record.exc_info[1]!r}"
        self.watch.add(f"log record during {self.watch.current}", text)


WATCH = SecretWatch()


def _wrap_init(cls: type, kind: str) -> None:
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        WATCH.pending.append((f"{kind} {type(self).__name__} in {WATCH.current}", self))

    cls.__init__ = __init__  # type: ignore[misc]


def pytest_configure(config: pytest.Config) -> None:
    from boxmask.api.client import AsyncClient, Client
    from boxmask.api.http import Session
    from boxmask.errors import BoxmaskError

    handler = _Handler(WATCH)
    logging.getLogger().addHandler(handler)
    for name, level in (("boxmask", logging.DEBUG), ("httpx", logging.INFO)):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)

    original_key = Session.key

    def key(self: Session) -> str:
        value = original_key(self)
        WATCH.keys.add(value)
        return value

    Session.key = key  # type: ignore[method-assign]
    _wrap_init(BoxmaskError, "exception")
    _wrap_init(Client, "client")
    _wrap_init(AsyncClient, "client")
    config.stash[_KEY] = WATCH


_KEY = pytest.StashKey[SecretWatch]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check runs after everything else."""
    last = [
        i for i in items if i.nodeid.endswith("test_reliability_secrets.py::test_no_api_key_leaked")
    ]
    for item in last:
        items.remove(item)
    items.extend(last)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    WATCH.settle()
    WATCH.current = item.nodeid


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for title, content in report.sections:
        WATCH.add(f"{title} of {report.nodeid}", content, report.nodeid)
    if report.failed:
        WATCH.add(f"failure report of {report.nodeid}", report.longreprtext, report.nodeid)
    if report.when == "teardown":
        WATCH.settle()


def watch() -> SecretWatch:
    """The session's watcher (for the final test)."""
    return WATCH
