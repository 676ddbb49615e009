"""Progress of a request run on stderr: done/total, rate, ETA, failures, tokens, cost.

On a terminal it is a tqdm bar; elsewhere one plain line every ``interval`` seconds;
nothing with ``quiet``. :meth:`Progress.summary` is the closing line.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from boxmask.pricing import PriceTable, usage_tokens

__all__ = ["Progress"]


class Progress:
    """Counts of a run of ``total`` images (``reused`` of them answered by the journal)."""

    def __init__(
        self,
        total: int,
        *,
        model: str,
        prices: PriceTable,
        quiet: bool = False,
        interval: float = 5.0,
        stream: TextIO | None = None,
        price_factor: float = 1.0,
    ) -> None:
        self.total, self.model, self.prices = total, model, prices
        self.price_factor = price_factor  # 0.5 for the Batch API
        self.stream = stream or sys.stderr
        self.quiet, self.interval = quiet, interval
        self.done = self.failed = self.reused = self.requested = 0
        self.input_tokens = self.output_tokens = 0
        self.start = time.monotonic()
        self._last = self.start
        self._bar: Any = None
        if not quiet and _isatty(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="img", file=self.stream, dynamic_ncols=True)

    @property
    def cost(self) -> float:
        cost = self.prices.cost(self.model, self.input_tokens, self.output_tokens)
        return cost * self.price_factor

    def update(self, *, ok: bool, usage: Any = None, reused: bool = False) -> None:
        """One image done (answered now or by the journal, or failed)."""
        self.done += 1
        self.failed += 0 if ok else 1
        if reused:
            self.reused += 1
        else:
            self.requested += 1
            tokens_in, tokens_out = usage_tokens(usage)
            self.input_tokens += tokens_in
            self.output_tokens += tokens_out
        if self._bar is not None:
            self._bar.set_postfix_str(self._counts(), refresh=False)
            self._bar.update(1)
        elif not self.quiet and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            print(f"boxmask: {self.done}/{self.total} images, {self._counts()}", file=self.stream)

    def _counts(self) -> str:
        cost = f"${self.cost:.4f}" if self.prices.knows(self.model) else "cost unknown"
        return (
            f"{self.failed} failed, {self.input_tokens} in / {self.output_tokens} out "
            f"tokens, {cost}"
        )

    def note(self, text: str) -> None:
        """A state line (a batch job's state): the bar's description on a terminal,
        else one line on the stream; nothing with ``quiet``."""
        if self._bar is not None:
            self._bar.set_description_str(text)
        elif not self.quiet:
            print(f"boxmask: {text}", file=self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def summary(self) -> str:
        """One line: what was done, reused, failed, tokens, cost and the rate."""
        seconds = time.monotonic() - self.start
        rate = self.requested / seconds if seconds > 0 else 0.0
        return (
            f"boxmask: {self.done}/{self.total} images ({self.requested} requested, "
            f"{self.reused} from the journal), {self._counts()}, "
            f"{seconds:.1f} s, {rate:.1f} requests/s"
        )


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
