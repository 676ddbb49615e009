"""A local cache of uploaded files, keyed by the SHA-256 of the bytes, so the same image is
not uploaded twice before it expires (files live 48 h on the service).

Entries are per *account*: a one-way fingerprint of the API key and base URL (a file
uploaded with one key is not visible to another). The key itself is never stored. With a
``path`` the cache is also kept in a JSON file (written atomically, mode 0600), so separate runs
share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from boxmask.api.files import File
from boxmask.io import atomic_writer

__all__ = ["CachedFile", "FileCache", "account_fingerprint"]


def account_fingerprint(api_key: str, base_url: str) -> str:
    """16 hex characters identifying (key, service) without revealing the key."""
    digest = hashlib.sha256(b"boxmask-file-cache\0" + api_key.encode() + b"\0" + base_url.encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class CachedFile:
    """A cached upload: the file and the upright pixel size of the image it holds."""

    file: File
    width: int | None
    height: int | None


class FileCache:
    """Thread-safe sha256 → :class:`File` map; entries expire ``margin`` before the file does.

    ``margin`` (default one hour) leaves time to use a file after it is handed out.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, margin: float = 3600.0):
        self.path = Path(path) if path is not None else None
        self.margin = timedelta(seconds=margin)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, CachedFile]] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def __repr__(self) -> str:
        count = sum(len(v) for v in self._entries.values())
        return f"FileCache(path={str(self.path) if self.path else None!r}, entries={count})"

    def _fresh(self, entry: CachedFile, now: datetime) -> bool:
        expiry = entry.file.expiration_time
        return entry.file.state == "ACTIVE" and (expiry is None or expiry - self.margin > now)

    def get(self, account: str, sha256: str) -> CachedFile | None:
        """The cached upload of these bytes, or None (also when it is about to expire)."""
        now = datetime.now(timezone.utc)
        with self._lock:
            entry = self._entries.get(account, {}).get(sha256)
            if entry is None:
                return None
            if not self._fresh(entry, now):
                del self._entries[account][sha256]
                self._save()
                return None
            return entry

    def find_uri(self, account: str, uri: str) -> CachedFile | None:
        """The cached entry whose file has ``uri`` or name ``uri`` (to learn an image size)."""
        with self._lock:
            for entry in self._entries.get(account, {}).values():
                if uri in (entry.file.uri, entry.file.name):
                    return entry
        return None

    def put(
        self, account: str, sha256: str, file: File, width: int | None, height: int | None
    ) -> None:
        """Remember an ACTIVE upload."""
        with self._lock:
            self._entries.setdefault(account, {})[sha256] = CachedFile(file, width, height)
            self._save()

    def forget(self, account: str, *, sha256: str | None = None, name: str | None = None) -> None:
        """Drop an entry by content hash or by file name (``files/abc``)."""
        with self._lock:
            entries = self._entries.get(account, {})
            for key in [
                k for k, e in entries.items() if k == sha256 or (name and e.file.name == name)
            ]:
                del entries[key]
            self._save()

    # ---------------------------------------------------------------- persistence
    def _load(self) -> None:
        assert self.path is not None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # a broken cache file is only a cache: start afresh
        if not isinstance(raw, dict):
            return
        for account, entries in raw.get("accounts", {}).items():
            for sha, value in entries.items():
                try:
                    file = File.from_api(value["file"])
                    self._entries.setdefault(account, {})[sha] = CachedFile(
                        file, value.get("width"), value.get("height")
                    )
                except (KeyError, TypeError, ValueError):
                    continue

    def _save(self) -> None:
        if self.path is None:
            return
        data: dict[str, Any] = {
            "version": 1,
            "accounts": {
                account: {
                    sha: {"file": e.file.to_api(), "width": e.width, "height": e.height}
                    for sha, e in entries.items()
                }
                for account, entries in self._entries.items()
            },
        }
        # Private to the user (0600), as the upload list of an account.
        with atomic_writer(self.path, mode=0o600) as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
