"""Progress display of the request commands: a tqdm bar on a terminal, lines elsewhere."""

from __future__ import annotations

import io

from boxmask.pricing import PriceTable
from boxmask.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _feed(progress: Progress) -> None:
    progress.update(ok=True, usage={"promptTokenCount": 300, "candidatesTokenCount": 50})
    progress.update(ok=False)
    progress.update(ok=True, reused=True)
    progress.close()


def test_a_bar_on_a_terminal_with_tokens_and_cost() -> None:
    stream = _Terminal()
    progress = Progress(3, model="m", prices=PriceTable({"m": (1.0, 10.0)}), stream=stream)
    _feed(progress)
    shown = stream.getvalue()
    assert "3/3" in shown and "1 failed, 300 in / 50 out tokens, $0.0008" in shown
    summary = progress.summary()
    assert "3/3 images (2 requested, 1 from the journal)" in summary


def test_lines_off_a_terminal_and_nothing_when_quiet() -> None:
    stream = io.StringIO()
    _feed(Progress(3, model="x", prices=PriceTable({}), stream=stream, interval=0.0))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("boxmask: 3/3 images")
    assert "cost unknown" in lines[-1]
    quiet = io.StringIO()
    _feed(Progress(3, model="x", prices=PriceTable({}), stream=quiet, quiet=True))
    assert quiet.getvalue() == ""
