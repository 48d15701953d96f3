"""MNIST digits rendered as photos and scans of pen-written digits, for training and for the real-world test set.

`render(digit, seed)` turns one uint8 28x28 white-on-black MNIST digit into a BGR uint8 photo: ink on
paper under uneven, coloured light, with sensor noise, blur and JPEG, 30 to 300 px, stroke width and
slant varied, specks, ruled lines or a paper edge in the crop; or a "scan": the digit written by another
hand (elastic distortion), scanned at low resolution and upscaled. The looks are split in two sets:
`held_out=False` draws only TRAIN_LOOKS, `held_out=True` only HELD_OUT_LOOKS (ink colours, backgrounds
and blur kinds no training image has), so a test set rendered from MNIST *test* digits with held-out
looks measures the real-world path on pictures never trained on.

numpy + OpenCV only (no torch): the runtime-only tests use it too. Frozen once models are trained on it:
a change here changes what the shipped models were trained on.
"""
from __future__ import annotations

import cv2
import numpy as np

# BGR colours. Light ink on dark paper (chalk on a board, white pen on dark card) is drawn for LIGHT_INK_SHARE.
TRAIN_LOOKS = {
    "ink": {"black": (35, 30, 30), "blue": (140, 50, 20), "pencil": (95, 90, 90)},
    "light_ink": {"chalk": (225, 230, 225)},
    "paper": {"white": (235, 238, 240), "cream": (200, 228, 240), "grey": (200, 200, 200)},
    "dark_paper": {"board": (55, 70, 45)},
    "background": ("plain", "ruled", "specks", "edge"),
    "blur": ("gaussian", "motion"),
}
HELD_OUT_LOOKS = {
    "ink": {"red": (40, 40, 180), "green": (50, 120, 30), "violet": (120, 30, 90)},
    "light_ink": {"yellow": (120, 225, 235)},
    "paper": {"blue-grey": (225, 205, 185), "pink": (215, 205, 245)},
    "dark_paper": {"black card": (30, 30, 35)},
    "background": ("grid", "cardboard", "edge"),
    "blur": ("defocus", "gaussian"),
}
LIGHT_INK_SHARE = 0.15
SCAN_SHARE = 0.25  # of renders with kind=None
TIGHT_SHARE, TIGHT_MARGIN = 0.2, 0.1  # photos cropped close around the digit, with at most this much paper
TIGHT_SIDE = 60  # ...from crops this long or more (smaller, the blur and noise leave too little paper to tell ink by)


def render(digit: np.ndarray, seed, held_out: bool = False, kind: str | None = None) -> np.ndarray:
    """One MNIST digit (uint8 [28, 28], white on black) as a BGR uint8 photo ("photo") or scan ("scan").

    Deterministic in `seed` (an int or a numpy Generator); kind=None picks one at random.
    """
    return render_with_look(digit, seed, held_out, kind)[0]


def render_with_look(digit: np.ndarray, seed, held_out: bool = False, kind: str | None = None) -> tuple:
    """`render`, and the look it drew as a dict (kind, size, ink, paper, background, blur...), so that
    results can be broken down by look."""
    rng = np.random.default_rng(seed)
    looks = HELD_OUT_LOOKS if held_out else TRAIN_LOOKS
    kind = kind or ("scan" if rng.random() < SCAN_SHARE else "photo")
    if kind not in ("photo", "scan"):
        raise ValueError(f"kind must be 'photo', 'scan' or None, got {kind!r}")
    look = {"kind": kind}
    image = (_scan if kind == "scan" else _photo)(digit, rng, looks, look)
    look["size"] = image.shape[:2]
    return image, look


def render_set(digits: np.ndarray, seed: int, held_out: bool = False, kind: str | None = None) -> list:
    """`render` on each digit of [N, 28, 28], image i from seed (seed, i): the same set for the same seed."""
    return [render(digit, np.random.default_rng([seed, i]), held_out, kind) for i, digit in enumerate(digits)]


def _photo(digit, rng, looks, look: dict) -> np.ndarray:
    side = int(np.exp(rng.uniform(np.log(30), np.log(300))))  # longest side of the crop
    width, height = _canvas(side, rng)
    fill = rng.uniform(0.5, 0.85)  # the digit's 20-px box as a share of the crop's shorter side
    scale = fill * min(width, height) / 20  # photo pixels per MNIST pixel
    stroke = _glyph(digit, rng, scale, (width, height), warp=rng.random() < 0.3)
    if side >= TIGHT_SIDE and rng.random() < TIGHT_SHARE:  # cropped by hand close around the ink, as users often do
        stroke = _around_ink(stroke, rng.uniform(0, TIGHT_MARGIN))
    return _paint(stroke, rng, looks, look, scale)


def _around_ink(stroke: np.ndarray, margin: float) -> np.ndarray:
    """The stroke coverage cropped to its ink's box, with `margin` of the box's longer side kept around it."""
    ys, xs = np.nonzero(stroke > 0.5)
    pad = int(round(margin * max(np.ptp(ys), np.ptp(xs))))
    return stroke[max(0, ys.min() - pad):ys.max() + 1 + pad, max(0, xs.min() - pad):xs.max() + 1 + pad]


def render_number(digits: np.ndarray, seed, held_out: bool = False) -> tuple:
    """Several MNIST digits (uint8 [K, 28, 28]) written side by side on one photo, painted as `render` paints one
    (ink, paper, marks, light, blur, noise, JPEG): the multi-digit stills of the real-world test.
    -> (BGR uint8 photo, its look). Deterministic in `seed`; each digit has its own slant and placement."""
    rng = np.random.default_rng(seed)
    looks = HELD_OUT_LOOKS if held_out else TRAIN_LOOKS
    height = int(np.exp(rng.uniform(np.log(40), np.log(240))))
    cell = max(16, int(height * rng.uniform(0.55, 0.8)))  # the width each digit takes: handwriting's spacing
    scale = rng.uniform(0.55, 0.75) * cell / 20  # photo pixels per MNIST pixel
    stroke = np.concatenate([_glyph(digit, rng, scale, (cell, height), warp=rng.random() < 0.3) for digit in digits], 1)
    margin = int(cell * rng.uniform(0.3, 0.8))  # paper left and right of the number
    stroke = cv2.copyMakeBorder(stroke, 0, 0, margin, margin, cv2.BORDER_CONSTANT, value=0)
    look = {"kind": "number", "digits": len(digits)}
    image = _paint(stroke, rng, looks, look, scale)
    look["size"] = image.shape[:2]
    return image, look


def _paint(stroke, rng, looks, look: dict, scale: float) -> np.ndarray:
    """Stroke coverage float32 [h, w] as ink on paper, with the paper's marks, uneven coloured light, blur, sensor
    noise and JPEG, drawn from `looks` (recorded in `look`): a BGR uint8 photo. `scale`: photo px per MNIST px."""
    height, width = stroke.shape
    light_ink = rng.random() < LIGHT_INK_SHARE
    look["ink"], ink = _pick(looks["light_ink" if light_ink else "ink"], rng)
    look["paper"], paper = _pick(looks["dark_paper" if light_ink else "paper"], rng)
    image = np.empty((height, width, 3), np.float32)
    image[:] = paper
    look["background"] = str(rng.choice(looks["background"]))
    _background(image, look["background"], paper, rng)
    opacity = rng.uniform(0.75, 1.0)
    image += (ink - image) * (opacity * stroke)[..., None]
    image *= _lighting(height, width, rng)[..., None] * rng.uniform(0.85, 1.12, 3)  # uneven light, colour cast
    look["blur"] = str(rng.choice(looks["blur"]))
    image = _blur(image, look["blur"], scale, rng)
    look["noise"] = rng.uniform(1, 10)
    image += rng.normal(0, look["noise"], image.shape) + rng.normal(0, rng.uniform(0, 4), (height, width, 1))
    return _jpeg(image, rng)


def _scan(digit, rng, looks, look: dict) -> np.ndarray:
    """Another writer's digit scanned at low resolution, then upscaled: blocky or soft edges, flat light."""
    low = int(rng.integers(20, 44))  # the scan's side in pixels
    stroke = _glyph(digit, rng, rng.uniform(0.5, 0.75) * low / 20, (low, low), warp=True)
    look["ink"], ink = _pick(looks["ink"], rng)
    paper = np.float32(rng.uniform(215, 250)) * rng.uniform(0.95, 1.03, 3)
    image = paper + (ink - paper) * stroke[..., None]
    image += rng.normal(0, rng.uniform(0, 6), image.shape)
    side = int(rng.integers(max(40, low), 240))
    interpolation = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC)[rng.integers(3)]
    image = cv2.resize(image.astype(np.float32), (side, side), interpolation=interpolation)
    return _jpeg(image, rng)


def _canvas(side: int, rng) -> tuple:
    aspect = rng.uniform(0.75, 1.35)
    return (side, max(24, int(side / aspect))) if aspect > 1 else (max(24, int(side * aspect)), side)


def _glyph(digit, rng, scale: float, size: tuple, warp: bool) -> np.ndarray:
    """Stroke coverage float32 [h, w] in [0, 1]: the digit upscaled smoothly to solid pen strokes, slanted,
    rotated and placed at a random spot, its stroke width changed by the threshold level and dilation."""
    up = max(2, int(np.ceil(scale)))  # work at >= 2x the MNIST grid so the strokes come out smooth
    glyph = cv2.resize(digit.astype(np.float32) / 255, (28 * up, 28 * up), interpolation=cv2.INTER_CUBIC)
    if warp:  # another hand: an elastic distortion of the whole digit
        glyph = _elastic(glyph, rng, up)
    glyph = cv2.GaussianBlur(glyph, (0, 0), 0.5 * up)
    level = rng.uniform(0.35, 0.65)  # lower: thicker strokes
    glyph = np.clip((glyph - level) / 0.12 + 0.5, 0, 1)  # solid strokes with a ~1 grid-pixel soft edge
    pen = rng.uniform(-0.5, 0.4) * up  # pen width change in pixels at this resolution
    if abs(pen) >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(abs(pen)) | 1,) * 2)
        glyph = cv2.dilate(glyph, kernel) if pen > 0 else cv2.erode(glyph, kernel)
    width, height = size
    k = scale / up
    slant, angle = rng.uniform(-0.3, 0.3), np.deg2rad(rng.uniform(-8, 8))
    squash = rng.uniform(0.85, 1.15)
    linear = k * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ [[squash, slant], [0, 1]]
    centre = 14 * up
    room = np.array([width, height]) * 0.08
    target = np.array([width, height]) / 2 + rng.uniform(-room, room)
    affine = np.hstack([linear, (target - linear @ [centre, centre])[:, None]]).astype(np.float32)
    return cv2.warpAffine(glyph, affine, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)


def _elastic(glyph, rng, up: int) -> np.ndarray:
    h, w = glyph.shape
    field = rng.normal(0, 1, (2, 5, 5)).astype(np.float32) * rng.uniform(0.3, 0.9) * up
    dx, dy = (cv2.resize(f, (w, h), interpolation=cv2.INTER_CUBIC) for f in field)
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(glyph, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0)


def _pick(colours: dict, rng) -> tuple:
    """(name, BGR float32) of one of the named colours, varied a little."""
    name = list(colours)[rng.integers(len(colours))]
    return name, np.clip(np.float32(colours[name]) + rng.normal(0, 8, 3), 0, 255).astype(np.float32)


def _background(image, kind: str, paper, rng) -> None:
    """Draw the paper's texture and marks into the float BGR image, in place."""
    height, width = image.shape[:2]
    side = max(height, width)
    tone = paper * rng.uniform(0.65, 0.9)  # lines and specks: a darker shade of the paper
    if kind == "ruled":
        gap = rng.uniform(0.15, 0.4) * side
        for y in np.arange(rng.uniform(0, gap), height, gap):
            cv2.line(image, (0, int(y)), (width, int(y)), (tone * [1.0, 0.9, 0.8]).tolist(), max(1, side // 150))
        if rng.random() < 0.3:  # the margin line
            x = int(rng.uniform(0.05, 0.25) * width)
            cv2.line(image, (x, 0), (x, height), (paper * [0.7, 0.7, 1.0]).tolist(), max(1, side // 150))
    elif kind == "grid":
        gap = rng.uniform(0.1, 0.25) * side
        for v in np.arange(rng.uniform(0, gap), side, gap):
            cv2.line(image, (0, int(v)), (width, int(v)), tone.tolist(), max(1, side // 200))
            cv2.line(image, (int(v), 0), (int(v), height), tone.tolist(), max(1, side // 200))
    elif kind == "specks":
        for _ in range(rng.integers(3, 15)):
            centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
            cv2.circle(image, centre, max(1, int(rng.uniform(0.003, 0.015) * side)), (tone * 0.7).tolist(), -1)
    elif kind == "cardboard":  # fibrous brown texture
        fibres = cv2.resize(rng.normal(0, 1, (max(2, height // 6), max(2, width // 2))).astype(np.float32),
                            (width, height), interpolation=cv2.INTER_LINEAR)
        image[:] = image * np.float32([0.6, 0.8, 0.95]) * (1 + 0.06 * fibres)[..., None]
    elif kind == "edge":  # the paper ends inside the crop: a table beyond it
        depth = max(1, int(rng.uniform(0.03, 0.12) * side))
        table = rng.uniform(20, 120, 3).tolist()
        side_index = rng.integers(4)
        region = (np.s_[:depth, :], np.s_[-depth:, :], np.s_[:, :depth], np.s_[:, -depth:])[side_index]
        image[region] = table
    if kind in ("plain", "specks", "ruled", "edge"):  # paper is never perfectly even
        mottle = cv2.resize(rng.normal(0, 1, (4, 4)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
        image *= (1 + 0.03 * mottle)[..., None]


def _lighting(height: int, width: int, rng) -> np.ndarray:
    """Illumination float32 [h, w]: a gradient across the crop and a soft spot, from dim to bright."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / max(height, width), xx / max(height, width)
    angle = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0, 0.5)
    light = 1 - strength * (np.cos(angle) * xx + np.sin(angle) * yy + 1) / 2
    cy, cx = rng.uniform(0, 1, 2)
    light *= 1 - rng.uniform(0, 0.3) * np.clip(((yy - cy) ** 2 + (xx - cx) ** 2) * 2, 0, 1)
    return light * rng.uniform(0.55, 1.1)


def _blur(image, kind: str, scale: float, rng) -> np.ndarray:
    size = rng.uniform(0, 0.8) * scale  # in pixels: up to a third of a stroke, so the digit stays legible
    if size < 0.4:
        return image
    if kind == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), size)
    length = max(2, int(round(2 * size)))
    kernel = np.zeros((2 * length + 1,) * 2, np.float32)
    if kind == "motion":
        angle = np.deg2rad(rng.uniform(0, 180))
        dx, dy = int(round(length * np.cos(angle))), int(round(length * np.sin(angle)))
        cv2.line(kernel, (length - dx, length - dy), (length + dx, length + dy), 1, 1)
    else:  # defocus: a disc
        cv2.circle(kernel, (length, length), length, 1, -1)
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def _jpeg(image, rng) -> np.ndarray:
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        return image
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)
