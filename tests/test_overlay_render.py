"""boxmask.overlay.render: pixels where they belong, crop-local equal to a full-frame reference."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import boxmask
from boxmask import Detections, Masks
from boxmask.images import read_image
from boxmask.overlay import color_for_label, draw, save_overlay
from boxmask.overlay.palette import as_palette, outline_color_for
from boxmask.overlay.render import default_thickness, mask_border, outline_kernel
from boxmask.testing.answers import make_items, to_answer_text
from tests.fixture_paths import FIXTURE_IMAGES

ROOT = Path(__file__).resolve().parents[1]
IMAGES = FIXTURE_IMAGES
QUIET = {"labels": False, "points": False}


def gray(width: int, height: int, value: int = 100) -> npt.NDArray[np.uint8]:
    return np.full((height, width, 3), value, dtype=np.uint8)


def noisy(width: int, height: int, seed: int = 0) -> npt.NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def synthetic(n: int, width: int, height: int, seed: int = 0) -> Detections:
    items = make_items(n, seed=seed, min_side=40, max_side=600)
    return boxmask.parse(to_answer_text(items), width=width, height=height)


def one_mask(
    width: int, height: int, x0: int, y0: int, crop: npt.NDArray[np.bool_], label: str = "cup"
) -> Detections:
    h, w = crop.shape
    return Detections(
        [[x0, y0, x0 + w, y0 + h]],
        [label],
        width=width,
        height=height,
        masks=Masks([(x0, y0, crop)], width, height),
    )


def disk(size: int) -> npt.NDArray[np.bool_]:
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2
    return (xx - c) ** 2 + (yy - c) ** 2 <= (size / 2) ** 2


# ----------------------------------------------------------------- reference
def erode_reference(
    mask: npt.NDArray[np.bool_], kernel: npt.NDArray[np.uint8]
) -> npt.NDArray[np.bool_]:
    """Plain numpy erosion; everything outside the image counts as outside the mask."""
    t = kernel.shape[0] // 2
    height, width = mask.shape
    padded = np.pad(mask, t)
    out = np.ones_like(mask)
    for dy, dx in zip(*np.nonzero(kernel), strict=True):
        out &= padded[dy : dy + height, dx : dx + width]
    return out


def full_frame_reference(
    image: npt.NDArray[np.uint8],
    d: Detections,
    alpha: float,
    thickness: int,
    palette: dict[str, tuple[int, int, int]] | None = None,
) -> npt.NDArray[np.uint8]:
    """The straightforward version: dense masks, whole-image arrays, float blend."""
    assert d.masks is not None
    dense = d.masks.to_dense()
    order = np.argsort(-d.areas, kind="stable")
    height, width = image.shape[:2]
    state = np.zeros((height, width), dtype=np.int8)  # 0 none, 1 fill, 2 outline
    top = np.zeros((height, width, 3), dtype=np.float64)
    kernel = outline_kernel(thickness) if thickness else None
    colors = as_palette(palette).colors_for(d.labels)
    for i in order:
        m = dense[i]
        if not m.any():
            continue
        if alpha > 0:
            state[m] = 1
            top[m] = colors[i]
        if kernel is not None:
            border = m & ~erode_reference(m, kernel)
            state[border] = 2
            top[border] = outline_color_for(colors[i])
    out = image.astype(np.float64)
    fill = state == 1
    out[fill] = image[fill] * (1 - alpha) + top[fill] * alpha
    out[state == 2] = top[state == 2]
    return np.rint(out).astype(np.uint8)


@pytest.mark.parametrize(
    ("alpha", "thickness"), [(0.5, 2), (0.35, 3), (1.0, 1), (0.6, 0), (0.0, 2)]
)
def test_crop_local_equals_full_frame_reference(alpha: float, thickness: int) -> None:
    width, height = 320, 240
    d = synthetic(25, width, height, seed=3)
    image = noisy(width, height)
    got = draw(
        image,
        d,
        alpha=alpha,
        outline=thickness > 0,
        thickness=max(thickness, 1),
        boxes=False,
        **QUIET,
    )
    want = full_frame_reference(image, d, alpha, thickness)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_many_colours_take_the_wide_index_path() -> None:
    width, height = 200, 150
    d = synthetic(140, width, height, seed=5)
    labels = [f"thing {i}" for i in range(len(d))]
    d = Detections(d.boxes, labels, width=width, height=height, masks=d.masks)
    rng = np.random.default_rng(1)
    palette = {label: tuple(int(v) for v in rng.integers(0, 256, 3)) for label in labels}
    image = noisy(width, height, seed=2)
    got = draw(image, d, palette=palette, thickness=2, boxes=False, **QUIET)
    want = full_frame_reference(image, d, 0.5, 2, palette)  # type: ignore[arg-type]
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_mask_is_tinted_inside_and_nothing_changes_outside_the_boxes() -> None:
    width, height = 300, 200
    d = synthetic(6, width, height, seed=1)
    image = gray(width, height)
    out = draw(image, d, outline=False, boxes=False, **QUIET)
    assert d.masks is not None
    union = d.masks.to_dense().any(axis=0)
    changed = (out != image).any(axis=2)
    assert changed[union].all()  # every mask pixel tinted
    assert not changed[~union].any()  # nothing else
    # With outlines and boxes too, still nothing outside the boxes.
    out = draw(image, d, **QUIET)
    inside_boxes = np.zeros((height, width), bool)
    for x0, y0, x1, y1 in d.boxes:
        inside_boxes[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
    assert not (out != image).any(axis=2)[~inside_boxes].any()


def test_fill_is_the_blend_of_the_label_colour() -> None:
    crop = np.ones((10, 12), bool)
    d = one_mask(40, 30, 5, 6, crop)
    out = draw(gray(40, 30), d, alpha=0.25, outline=False, boxes=False, **QUIET)
    color = np.array(color_for_label("cup"))
    expected = np.rint(100 * 0.75 + color * 0.25)
    np.testing.assert_array_equal(out[6:16, 5:17].reshape(-1, 3), np.tile(expected, (120, 1)))


def test_outline_lies_on_the_mask_border() -> None:
    crop = disk(21)
    d = one_mask(60, 50, 17, 9, crop)
    image = gray(60, 50)
    out = draw(image, d, alpha=0.0, thickness=2, boxes=False, **QUIET)
    changed = (out != image).any(axis=2)
    border = np.zeros((50, 60), bool)
    border[9:30, 17:38] = mask_border(crop, 2).astype(bool)
    np.testing.assert_array_equal(changed, border)
    assert (out[border] == outline_color_for(color_for_label("cup"))).all()
    # The border is the mask pixels within 2 px of the outside, and only those.
    assert border[9:30, 17:38][crop].sum() < crop.sum()
    assert not border[9:30, 17:38][~crop].any()
    assert border[19, 17] and border[19, 18] and not border[19, 19]  # left edge, 2 wide


def test_outline_follows_the_image_edge() -> None:
    crop = np.ones((5, 8), bool)  # a mask in the image corner
    d = one_mask(20, 20, 0, 0, crop)
    out = draw(gray(20, 20), d, alpha=0.0, thickness=1, boxes=False, **QUIET)
    assert (
        out[0, 3] == outline_color_for(color_for_label("cup"))
    ).all()  # top row: the image edge is a border


def test_boxes_are_drawn_inside_their_edges() -> None:
    d = Detections([[10, 20, 50, 40]], ["box"], width=80, height=60)
    image = gray(80, 60)
    out = draw(image, d, thickness=3, **QUIET)
    color = color_for_label("box")
    changed = (out != image).any(axis=2)
    ring = np.zeros((60, 80), bool)
    ring[20:40, 10:50] = True
    ring[23:37, 13:47] = False
    np.testing.assert_array_equal(changed, ring)
    assert (out[ring] == color).all()


def test_fractional_boxes_cover_the_pixels_they_touch() -> None:
    d = Detections([[10.4, 20.6, 49.2, 39.9]], ["box"], width=80, height=60)
    changed = (draw(gray(80, 60), d, thickness=1, **QUIET) != 100).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (10, 49, 20, 39)


def test_masked_items_get_a_thinner_box() -> None:
    crop = np.zeros((20, 20), bool)
    crop[5:15, 5:15] = True
    d = one_mask(40, 40, 10, 10, crop)
    out = draw(gray(40, 40), d, alpha=0.0, outline=False, thickness=4, **QUIET)
    changed = (out != 100).any(axis=2)
    assert changed[10, 10:30].all() and changed[11, 15] and not changed[12, 15]


def test_points_get_markers_and_no_box() -> None:
    d = Detections(
        [[30, 20, 30, 20]],
        ["tip"],
        width=100,
        height=60,
        points=[[30.5, 20.5]],
        has_box=[False],
    )
    image = gray(100, 60)
    out = draw(image, d, labels=False)
    assert (out[20, 30] == color_for_label("tip")).all()  # dot centre in the item colour
    changed = (out != image).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert xs.min() >= 20 and xs.max() <= 41 and ys.min() >= 10 and ys.max() <= 31
    with_label = draw(image, d)
    # The chip sits to the right of the marker.
    assert (with_label[15:26, 40:60] != image[15:26, 40:60]).any()
    no_points = draw(image, d, points=False, labels=False)
    np.testing.assert_array_equal(no_points, image)


def test_duplicate_items_draw_exactly_like_one() -> None:
    one = Detections([[20, 30, 90, 70]], ["cup"], width=160, height=100)
    two = Detections([[20, 30, 90, 70]] * 2, ["cup", "cup"], width=160, height=100)
    image = noisy(160, 100)
    np.testing.assert_array_equal(draw(image, one), draw(image, two))


def test_same_box_with_different_labels_stacks_the_chips() -> None:
    image = gray(200, 120)
    one = Detections([[20, 60, 150, 110]], ["cup"], width=200, height=120)
    two = Detections([[20, 60, 150, 110]] * 2, ["cup", "mug"], width=200, height=120)
    a, b = draw(image, one, text_size=14), draw(image, two, text_size=14)
    above = (slice(0, 60), slice(20, 150))
    rows_a = np.nonzero((a[above] != 100).any(axis=(1, 2)))[0]
    rows_b = np.nonzero((b[above] != 100).any(axis=(1, 2)))[0]
    assert len(rows_b) >= 2 * len(rows_a) - 1  # two chips, one above the other
    colors = {tuple(int(v) for v in px) for px in b[above].reshape(-1, 3)}
    assert tuple(color_for_label("cup")) in colors
    assert tuple(color_for_label("mug")) in colors


def test_drawing_order_is_by_area_not_input_order() -> None:
    width, height = 240, 180
    d = synthetic(12, width, height, seed=7)
    image = noisy(width, height, seed=3)
    forward = draw(image, d)
    backward = draw(image, d[np.arange(len(d))[::-1]])
    np.testing.assert_array_equal(forward, backward)


def test_small_mask_stays_visible_on_top_of_a_large_one() -> None:
    big = np.ones((40, 40), bool)
    small = np.ones((6, 6), bool)
    masks = Masks([(20, 20, small), (0, 0, big)], 50, 50)
    d = Detections(
        [[20, 20, 26, 26], [0, 0, 40, 40]], ["seed", "tray"], width=50, height=50, masks=masks
    )
    out = draw(gray(50, 50), d, alpha=1.0, outline=False, boxes=False, **QUIET)
    assert (out[22, 22] == color_for_label("seed")).all()
    assert (out[5, 5] == color_for_label("tray")).all()


def test_bgr_arrays_give_bgr_output() -> None:
    d = synthetic(5, 160, 120, seed=2)
    rgb = noisy(160, 120)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    np.testing.assert_array_equal(draw(bgr, d, channels="BGR"), draw(rgb, d)[:, :, ::-1])


def test_input_array_is_not_modified() -> None:
    d = synthetic(5, 160, 120)
    image = noisy(160, 120)
    before = image.copy()
    out = draw(image, d)
    np.testing.assert_array_equal(image, before)
    assert not np.shares_memory(out, image)


def test_gray_and_rgba_inputs() -> None:
    d = synthetic(3, 80, 60)
    assert draw(np.full((60, 80), 50, np.uint8), d).shape == (60, 80, 3)
    assert draw(np.zeros((60, 80, 4), np.uint8), d).shape == (60, 80, 3)


def test_items_without_masks_next_to_items_with_masks() -> None:
    crop = np.ones((8, 8), bool)
    masks = Masks([None, (30, 10, crop)], 60, 40)
    d = Detections(
        [[2, 2, 20, 20], [30, 10, 38, 18]], ["box", "blob"], width=60, height=40, masks=masks
    )
    out = draw(gray(60, 40), d, alpha=1.0, outline=False, thickness=1, **QUIET)
    assert (out[14, 34] == color_for_label("blob")).all()  # filled
    assert (out[10, 10] == 100).all()  # inside the mask-less box: untouched
    assert (out[2, 10] == color_for_label("box")).all()  # its box is drawn


def test_empty_detections_leave_the_image_alone() -> None:
    image = noisy(50, 40)
    np.testing.assert_array_equal(draw(image, Detections.empty(50, 40)), image)


def test_bad_calls_say_what_is_wrong() -> None:
    d = synthetic(2, 80, 60)
    with pytest.raises(ValueError, match="80x60 image but the image is 60x80"):
        draw(gray(60, 80), d)
    with pytest.raises(ValueError, match="alpha"):
        draw(gray(80, 60), d, alpha=1.5)
    with pytest.raises(ValueError, match="thickness"):
        draw(gray(80, 60), d, thickness=0)
    with pytest.raises(boxmask.ImageError):
        draw(ROOT / "nope.jpg", d)  # type: ignore[arg-type]


def test_exif_rotated_file_lands_like_the_upright_one() -> None:
    # Boxes and a polygon mask in upright pixel space, as the model saw the picture.
    answer = (
        '[{"box_2d": [200, 300, 600, 700], "label": "face",'
        ' "mask": [[300, 220], [700, 220], [700, 580], [300, 580]]},'
        ' {"box_2d": [700, 100, 950, 400], "label": "paw"}]'
    )
    d = boxmask.parse(answer, width=451, height=300)
    drawn = {}
    for name in ("chelsea.jpg", "chelsea_rotated.jpg"):
        source = read_image(IMAGES / name)
        out = draw(IMAGES / name, d, **QUIET)
        drawn[name] = (out != source).any(axis=2)
    a, b = drawn["chelsea.jpg"], drawn["chelsea_rotated.jpg"]
    assert a.shape == b.shape == (300, 451)
    assert (a & b).sum() / (a | b).sum() > 0.99
    # The paw box's left edge is at x = 0.1 * 451.
    assert b[260, 45] and not b[260, 60]


def test_save_overlay_writes_the_drawing(tmp_path: Path) -> None:
    d = synthetic(4, 160, 120)
    image = noisy(160, 120)
    path = save_overlay(image, d, tmp_path / "o.png", alpha=0.3)  # lossless
    np.testing.assert_array_equal(read_image(path), draw(image, d, alpha=0.3))
    first = path.read_bytes()
    save_overlay(image, d, path, alpha=0.3)
    assert path.read_bytes() == first
    bgr = save_overlay(image[:, :, ::-1], d, tmp_path / "b.png", channels="BGR", alpha=0.3)
    np.testing.assert_array_equal(read_image(bgr), read_image(path))


def test_default_thickness_grows_with_the_image() -> None:
    assert default_thickness(600, 400) == 2
    assert default_thickness(1920, 1080) == 2
    assert default_thickness(4032, 3024) == 5


@pytest.mark.parametrize(
    "code",
    [
        "import boxmask; f = boxmask.draw; import boxmask.overlay; assert boxmask.draw is f",
        "import boxmask.overlay; import boxmask; out = boxmask.draw(img, d)",
        "from boxmask.overlay import grid; import boxmask; out = boxmask.draw(img, d)",
        "import boxmask; boxmask.label_palette(['a', 'b']); boxmask.Palette(['a'])",
    ],
)
def test_boxmask_draw_is_callable_whatever_was_imported_first(code: str) -> None:
    setup = (
        "import numpy as np\n"
        "from boxmask.detections import Detections\n"
        "img = np.zeros((20, 30, 3), np.uint8)\n"
        "d = Detections([[1, 1, 9, 9]], ['a'], width=30, height=20)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", setup + code + "\nprint(type(boxmask.draw(img, d)).__name__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ndarray"


@pytest.mark.parametrize(("dtype", "colors"), [(np.uint8, 13), (np.uint16, 600)])
def test_colorize_is_the_lookup_table_gather(dtype: type[np.unsignedinteger], colors: int) -> None:
    from boxmask.overlay.render import _colorize

    rng = np.random.default_rng(7)
    lut = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    index = rng.integers(0, colors, (37, 53)).astype(dtype)
    out = _colorize(index, lut)
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.array_equal(out, lut[index])
