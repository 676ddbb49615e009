"""``FakeGemini``: the fake service served over HTTP on the loopback interface."""

from __future__ import annotations

import threading

from boxmask.testing.server.batches import finish
from boxmask.testing.server.http import Handler, Server
from boxmask.testing.server.records import TERMINAL_STATES
from boxmask.testing.server.state import ServiceState

__all__ = ["FakeGemini"]


class FakeGemini(ServiceState):
    """The fake service (see :class:`ServiceState` for the options). Use as a context
    manager; ``base_url`` is its service root."""

    _server: Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> FakeGemini:
        """Start serving in a daemon thread (idempotent). Raises ``OSError`` when the port
        is taken."""
        if self._server is None:
            handler = type("BoundHandler", (Handler,), {"fake": self})
            self._server = Server(self._address, handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="FakeGemini", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as ``Client(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("the server is not running: call start() first")
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when started with port 0)."""
        return int(self.base_url.rsplit(":", 1)[1])

    def finish_batch(self, name: str, state: str = "SUCCEEDED") -> None:
        """Move a batch job to ``state`` now (``SUCCEEDED`` runs its requests; ``FAILED``,
        ``CANCELLED`` or ``EXPIRED`` ends it without results)."""
        job = self.batches.get(name.removeprefix("batches/"))
        if job is None:
            raise KeyError(f"no batch job {name!r}")
        wanted = "BATCH_STATE_" + state.upper().removeprefix("JOB_STATE_").removeprefix(
            "BATCH_STATE_"
        )
        if wanted not in TERMINAL_STATES:
            raise ValueError(f"a batch job can finish as one of {sorted(TERMINAL_STATES)}")
        with self.batch_lock:
            finish(self, job, wanted)
