"""Estimated cost of Gemini requests: a small price table per model, overridable.

Prices are US dollars per million tokens, ``(input, output)``; output includes thinking
tokens. They are list prices for text/image input on the paid tier and change over time:
override them with ``--prices FILE.json`` or ``BOXMASK_PRICES=FILE.json`` holding
``{"model-name": [input, output], ...}``. A model not in the table costs nothing (and the
summary says the cost is unknown).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from boxmask.errors import BoxmaskError

__all__ = ["PRICES", "PriceTable", "usage_tokens"]

#: USD per 1M tokens (input, output), Google's list prices (ai.google.dev/pricing).
PRICES: dict[str, tuple[float, float]] = {
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-3-pro-preview": (2.00, 12.00),
    "gemini-3-flash-preview": (0.50, 3.00),
    "gemini-robotics-er-1.5-preview": (0.30, 2.50),
}


class PriceTable:
    """Prices by model name (a ``models/`` prefix is ignored)."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.prices = dict(PRICES if prices is None else prices)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> PriceTable:
        """The default table updated from ``path``, else from ``$BOXMASK_PRICES``."""
        table = cls()
        source = path or os.environ.get("BOXMASK_PRICES")
        if not source:
            return table
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
            for model, pair in dict(data).items():
                price_in, price_out = (float(v) for v in pair)
                table.prices[str(model)] = (price_in, price_out)
        except (OSError, ValueError, TypeError) as exc:
            raise BoxmaskError(
                f'prices {source}: want {{"model": [input, output]}} USD per 1M tokens ({exc})'
            ) from None
        return table

    def knows(self, model: str) -> bool:
        return model.rsplit("/", 1)[-1] in self.prices

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """Dollars for these token counts (0.0 for an unknown model)."""
        price_in, price_out = self.prices.get(model.rsplit("/", 1)[-1], (0.0, 0.0))
        return (input_tokens * price_in + output_tokens * price_out) / 1e6


def usage_tokens(usage: Any) -> tuple[int, int]:
    """``(input, output)`` tokens of a response's usage, generateContent
    (``usageMetadata``) or Interactions (``usage``) form; output includes thinking."""
    if not isinstance(usage, dict):
        return 0, 0

    def count(*names: str) -> int:
        total = 0
        for name in names:
            value = usage.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total += int(value)
        return total

    if "promptTokenCount" in usage or "candidatesTokenCount" in usage:
        return count("promptTokenCount"), count("candidatesTokenCount", "thoughtsTokenCount")
    return count("total_input_tokens"), count("total_output_tokens", "total_thought_tokens")
