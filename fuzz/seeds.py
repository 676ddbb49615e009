"""Write the hand-made seeds of the fuzz corpus (``fuzz/corpus/<target>/seed-*``).

    python -m fuzz.seeds

Seeds give the fuzzer a start in each region of the input space: the real answers of
``src/boxmask/fixtures/answers`` for the text target, each PNG layout for the mask target, and
fixed pseudo-random byte strings for the structure targets (their byte decoding is
total, so any bytes are a valid input). Beside them, ``atheris-*`` files are a sample
of what atheris kept for new coverage in a 300-second run per target.
"""

from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
FIXTURE_ANSWERS = ROOT.parent / "src" / "boxmask" / "fixtures" / "answers"

#: Hand-written tricky answers for the text target (size bytes are prepended).
TEXTS = [
    '```json\n[{"box_2d": [10, 20, 300, 400], "label": "cat"}]\n```',
    'Sure! ``` json\n[{"box_2d": [10, 20, 300, 400], "label": "a"},]```',
    '[{"box_2d": [10, 20, 300, 400], "label": "a"}, {"box_2d": [5, 6',
    "[{'box_2d': [1, 2, 3, 4], 'label': None, 'confidence': True}]",
    '{"boxes": [{"box_2d": ["1", "2", "3", "4"]}, {"point": [5, 5]}]}',
    '[{"box_2d": [1000, 1000, 0, 0], "mask": <start_of_mask><seg_1>, "label": "x"}]',
    '[{"box_2d": [NaN, Infinity, -1e999, 4], "label": "n"}]',
    '[{"box_2d": [0, 0, 1000, 1000], "mask": "data:image/png;base64,iVBORw0KGgo=", "label": "m"}]',
    '[{"mask": [[0, 0], [1000, 0], [500, 1000]], "label": "tri"}]',
    "[" * 200 + "]" * 199,
    '{"candidates": [{"content": {"parts": [{"text": "[]"}]}, "finishReason": "MAX_TOKENS"}]}',
    "no json here at all [1] {2}",
]


def _write(target: str, name: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def main() -> None:
    # parse_text: two size bytes, then the answer text.
    for i, text in enumerate(TEXTS):
        _write("parse_text", f"text{i:02d}", bytes([i % 8, 4 + i % 5]) + text.encode())
    for path in sorted(FIXTURE_ANSWERS.glob("*")):
        _write("parse_text", path.name, b"\x05\x04" + path.read_bytes())
    # png_mask: flag byte 1 (a built PNG), then mode 0 (a seed) and the seed's index.
    from fuzz.targets import SEED_PNGS

    for i in range(len(SEED_PNGS)):
        _write("png_mask", f"png{i}", bytes([1, 0, i, 0, 0]))
    for mode in range(1, 6):
        _write("png_mask", f"mode{mode}", bytes([1, mode]) + bytes(range(7, 7 + 64)))
    rng = random.Random(20261126)
    for target in ("parse_structure", "envelope", "rle", "rle_decode", "polygons", "exports"):
        for i in range(12):
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(16, 512)))
            _write(target, f"random{i:02d}", data)


if __name__ == "__main__":
    main()
