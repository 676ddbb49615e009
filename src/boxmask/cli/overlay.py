"""``boxmask overlay``: draw a model answer on its image and write the picture."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from boxmask.cli.common import positive_int, read_answer_arg
from boxmask.errors import BoxmaskError, ExportError
from boxmask.terminal import safe_text


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"alpha must be between 0 and 1, got {text}")
    return value


def _refused_output(args: argparse.Namespace) -> str | None:
    """Why ``-o`` may not be written (it exists without ``--force``, it is the image or the
    answer, a folder, a read-only place), or None: the checks of ``boxmask convert``."""
    from boxmask.batch.outputs import check_outputs

    inputs = [Path(args.image)] + ([Path(args.answer)] if args.answer != "-" else [])
    try:
        check_outputs([("-o", Path(args.output))], [], inputs=inputs, force=args.force)
    except ExportError as exc:
        return str(exc)
    return None


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "overlay",
        help="draw an answer's masks, boxes, points and labels on its image",
        description=(
            "Parse a model answer against its image (read upright, EXIF orientation "
            "applied) and write the image with masks, outlines, boxes, points and label "
            "chips drawn on it. The output format follows the suffix (.jpg is fastest; "
            ".png is lossless, written at a fast compression level; .webp). As for "
            "boxmask convert, an existing output is replaced only with --force, and never "
            "when it is the image or the answer (also through a link)."
        ),
    )
    p.add_argument("answer", metavar="ANSWER", help="answer file, or - for stdin")
    p.add_argument("--image", required=True, help="the image the answer describes")
    p.add_argument("-o", "--output", required=True, help="output picture (.png, .jpg, .webp)")
    p.add_argument("--alpha", type=_alpha, default=0.5, help="mask fill opacity 0-1 (default 0.5)")
    p.add_argument("--no-labels", action="store_true", help="no label chips")
    p.add_argument("--no-scores", action="store_true", help="no confidence in the labels")
    p.add_argument("--no-boxes", action="store_true", help="no boxes")
    p.add_argument("--no-outline", action="store_true", help="no mask outlines")
    p.add_argument("--no-points", action="store_true", help="no point markers")
    p.add_argument("--font", help="font file, file name or family name for the labels")
    p.add_argument("--thickness", type=positive_int, help="line width in pixels (default: scaled)")
    p.add_argument("--text-size", type=positive_int, help="text size in pixels (default: scaled)")
    p.add_argument("--threshold", type=int, default=127, help="mask threshold 0-255 (127)")
    p.add_argument("--quality", type=int, default=90, help="JPEG/WebP quality (90)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that `boxmask --help` does not load the drawing code.
    from boxmask.images import read_image
    from boxmask.io import atomic_write_bytes
    from boxmask.overlay import missing_glyph_warning, overlay_bytes
    from boxmask.overlay.encode import check_suffix
    from boxmask.parse import parse

    check_suffix(args.output)
    refused = _refused_output(args)
    if refused is not None:
        print(safe_text(f"boxmask overlay: error: {refused}"), file=sys.stderr)
        return 2
    image = read_image(args.image)
    height, width = image.shape[:2]
    try:
        text = read_answer_arg(args.answer)
    except OSError as exc:
        print(f"boxmask: error: cannot read {args.answer}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    detections = parse(text, width=width, height=height, threshold=args.threshold)
    try:
        data, overlay = overlay_bytes(
            image,
            detections,
            Path(args.output).suffix,
            alpha=args.alpha,
            outline=not args.no_outline,
            boxes=not args.no_boxes,
            labels=not args.no_labels,
            points=not args.no_points,
            scores=not args.no_scores,
            font=args.font,
            thickness=args.thickness,
            text_size=args.text_size,
            quality=args.quality,
        )
    except BoxmaskError:
        raise
    except ValueError as exc:  # bad font or option: say it without a traceback
        print(f"boxmask: error: {exc}", file=sys.stderr)
        return 2
    path = atomic_write_bytes(args.output, data)
    warning = missing_glyph_warning([overlay.missing_glyphs])
    if warning:
        print(warning, file=sys.stderr)
    if overlay.hidden_labels:
        print(
            f"boxmask: warning: {len(overlay.hidden_labels)} labels not shown, no free "
            f"place for their chips (first: {overlay.hidden_labels[0][:60]!r})",
            file=sys.stderr,
        )
    for problem in detections.problems:
        print(safe_text(f"boxmask: {problem}"), file=sys.stderr)
    s = detections.summary()
    print(
        f"wrote {path} ({width}x{height}): {s['items']} items, {s['masks']} masks, "
        f"{s['points']} points, {s['problems']} problems"
    )
    return 0
