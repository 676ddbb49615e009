"""Run one fuzz target under atheris (coverage-guided, libFuzzer), or replay inputs.

    python -m fuzz.run TARGET [libFuzzer options] [CORPUS_DIR ...]
    python -m fuzz.run TARGET --replay FILE_OR_DIR ...
    python -m fuzz.run --list

``make fuzz`` runs every target for ``FUZZ_SECONDS`` each, starting from the committed
seed corpus (``fuzz/corpus/<target>/``) and the saved crashes; new inputs and crashes
(``crash-<sha1>``, ``oom-<sha1>``, ``timeout-<sha1>``) go under ``FUZZ_WORK``
(``/tmp/boxmask-fuzz``). Fix the bug, then move the crash into
``tests/fuzz_regressions/<target>/``: the test suite replays it from then on.
``--replay`` needs no atheris.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _replay(name: str, paths: list[str]) -> int:
    from fuzz.targets import TARGETS

    target = TARGETS[name]
    files: list[Path] = []
    for arg in paths:
        p = Path(arg)
        files.extend(sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p])
    for f in files:
        target(f.read_bytes())
    print(f"{name}: {len(files)} input(s) replayed without a failure")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    if argv[1] == "--list":
        from fuzz.targets import TARGETS

        print("\n".join(TARGETS))
        return 0
    name = argv[1]
    if len(argv) > 2 and argv[2] == "--replay":
        return _replay(name, argv[3:])
    import atheris

    with atheris.instrument_imports(include=["boxmask", "fuzz"]):
        import boxmask.answer
        import boxmask.envelopes
        import boxmask.export.coco
        import boxmask.export.polygons
        import boxmask.export.rle
        import boxmask.export.yolo
        import boxmask.masks.png
        import boxmask.masks.polygon
        import boxmask.parse
        from fuzz.targets import TARGETS

        del boxmask
    if name not in TARGETS:
        print(f"unknown target {name!r}; one of: {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    from boxmask.threads import set_threads

    set_threads(1)  # one thread: libFuzzer wants the crash on the calling thread
    atheris.Setup([argv[0], *argv[2:]], TARGETS[name])
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
