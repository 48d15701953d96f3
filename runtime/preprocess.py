"""Any photo or scan of one digit -> the MNIST convention the models were trained on (contract.py).

`to_mnist` is the only preprocessing in digitguard: the CLI, the API and the camera all call it.
It makes a digit as MNIST was made from NIST's binary scans (ink found, size-normalised into a 20x20
box with anti-aliasing, centred by mass in 28x28), using whole-image OpenCV/numpy operations on an
image first shrunk to a working size: cost and memory are bounded whatever the input's size.
"""
from __future__ import annotations

import cv2
import numpy as np

from .contract import DIGIT_BOX, IMAGE_SIZE
from .errors import InvalidInputError
from .imagefile import check_pixels

MAX_ASPECT = 100  # a strip of ten digits is 10:1; beyond 100:1 an image holds no digit
WORK_PIXELS = 200 * 150  # larger inputs are halved (2x2 means) down to at most this first
DENOISE = 0.012  # photos are blurred by this share of their shorter side (strokes are ten times wider)
MIN_CONTRAST = 0.08  # ink fainter than this above the paper counts as a blank image
PEAK_PERCENTILE = 99.9  # the ink's peak, robust to a few hot pixels (a digit covers far more than 0.1 %)
NOISE_LEVEL = 0.2  # noise, not ink on paper, above this paper level (the border's median ink / peak) x (1 + mask
# share + parts / 10): rendered photos and scans have a paper level below 0.17 (99th percentile), noise 0.19 or more
BORDER_UNSURE = 0.2  # a border median this far from both ends of the grey range does not tell the paper
MIN_SKEW = 0.5  # normalised skew below which ink and paper are too evenly matched to tell polarity
PAPER_SIDE = 32  # the paper (lighting) is estimated on a copy this small, where a max filter
_PAPER_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))  # this wide removes the strokes
LINE_COVER = 0.9  # ink along at least this share of a row or column is a ruled line, a grid or a paper edge
LINE_WIDTH = 0.1  # ...unless such rows are wider than this share of the crop with paper beyond: a broad stroke
MIN_PART = 0.1  # ink components smaller than this share of the largest one are specks, not the digit
MAX_PARTS = 12  # a digit is a few strokes (a strip of ten digits still passes); salt noise is hundreds
CANON = 4 * DIGIT_BOX  # strokes are binarised and their width set with the digit's longest side this long
MNIST_STROKE = 2.4  # MNIST's median stroke width at 28x28 (2 area / outline of train digits at half ink)
MNIST_BORDER = 0.35  # a 28x28 image whose border's median is darker is MNIST-like (attacks add up to 0.3)
MIN_INK_PIXELS = 10  # a 28x28 digit has at least this many pixels at half its peak (MNIST: 29 or more)
MIN_COHERENCE = 0.5  # adjacent ink pairs per such pixel (MNIST: 0.59 or more; 10 % salt noise: 0.37 or less)
_MIN_PEAK = float(np.float32(MIN_CONTRAST))  # float32 peaks are compared with the float32 nearest MIN_CONTRAST
_JUST_ABOVE_1 = 1 + 1e-7  # float32 pixels below it are at most 1
_FLOAT32 = np.dtype(np.float32)  # numpy's one native float32 dtype: an identity test is the cheapest check
NO_DIGIT = "no digit found"
_BLANK_28 = "the 28x28 image is blank, holds only a speck or scattered dots"


def to_mnist(image) -> np.ndarray:
    """One image of one digit -> float32 [28, 28] in [0, 1], white digit on black, MNIST-centred.

    Accepts [H, W], [H, W, 1], grey+alpha [H, W, 2], BGR [H, W, 3] or BGRA [H, W, 4] arrays of uint8,
    uint16 or float in [0, 1]. A 28x28 image white on black, as MNIST (attacked MNIST digits too), is
    returned unchanged, only scaled to float32 [0, 1]. Anything else is a photo or scan: shrunk to a working size,
    lighting flattened and polarity found (`_flat_ink`), the digit kept as its large connected ink
    components (`_digit_mask`), its strokes binarised at a fixed resolution and brought to MNIST's width
    (`_canonical_strokes`), then area-averaged into the 20x20 box and centred by mass (`_centred`).
    Crops should keep some paper around the digit: the paper is what the lighting is estimated from.
    Raises InvalidInputError (ImageTooLargeError) for unusable arrays, "no digit found" for images with
    no ink: blank, uniform, black, or noise without strokes.
    """
    image = _as_image(image)
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if _mnist_like(gray):
        if not _has_ink(gray):
            raise InvalidInputError(f"{NO_DIGIT}: {_BLANK_28}")
        return gray
    ink, paper_level = _flat_ink(image, gray)
    mask, level, parts = _digit_mask(ink)
    if paper_level * (1 + mask.mean() + parts / 10) > NOISE_LEVEL:  # inky "paper" and a wide or scattered mask
        raise InvalidInputError(f"{NO_DIGIT}: the image is noise or texture, not ink on paper")
    x, y, w, h = cv2.boundingRect(mask)
    return _centred(_canonical_strokes(ink[y:y + h, x:x + w] * mask[y:y + h, x:x + w], level))


def ink_mask(image) -> np.ndarray:
    """uint8 0/1 mask of the ink `to_mnist` keeps as the digit (its large connected components), at the working size
    (the image halved until it has at most WORK_PIXELS): the paper between a number's digits is 0 in it, where a
    local threshold may have split one digit's broad strokes apart (the locator's, locate.py)."""
    image = _as_image(image)
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return _digit_mask(_flat_ink(image, gray)[0])[0]


def to_mnist_stack(images, source: str = "image") -> tuple:
    """`to_mnist` on every image of a stack [N, H, W] (or [N, H, W, C]) -> (float32 [N, 28, 28], {i: error}).

    A stack is a batch: an image that fails is left black and its InvalidInputError, naming it `source[i]`,
    goes in the dict, and the others are still converted; only a dtype no image may have raises.
    A valid 28x28 stack is converted in one step (a float32 one is returned as it is, never written to); then
    images with a black border, which `to_mnist` returns unchanged, are only checked for ink, and the others go
    through `to_mnist`.
    """
    a = np.asarray(images)
    errors, out = {}, None
    if a.ndim == 3 and a.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE):
        try:
            out = _to_float(a)  # the caller's array itself when already float32: copied below before any write
        except InvalidInputError:  # NaN or out of range somewhere: to_mnist names the images at fault
            pass
    if out is None:  # every image through to_mnist, unless no image may have this dtype
        _check_dtype(a)
        out, todo = np.zeros((len(a), IMAGE_SIZE, IMAGE_SIZE), np.float32), range(len(a))
    else:
        todo = []
        for i, image in enumerate(out):
            if not _black_border(image):
                todo.append(i)
            elif not _has_ink(image):
                errors[i] = InvalidInputError(f"{source}[{i}]: {NO_DIGIT}: {_BLANK_28}")
        if (todo or errors) and out is a:
            out = out.copy()
    for i in todo:
        try:
            out[i] = to_mnist(a[i])
        except InvalidInputError as e:
            errors[i] = type(e)(f"{source}[{i}]: {e}")
    for i in errors:
        out[i] = 0
    return out, errors


def _mnist_like(gray: np.ndarray) -> bool:
    """28x28 and white on black: its border is dark, and on the dark side of the image's Otsu split (an
    attack's perturbation leaves the border within MNIST_BORDER of black; paper, even grey, is brighter)."""
    if gray.shape != (IMAGE_SIZE, IMAGE_SIZE):
        return False
    if _black_border(gray):
        return True
    border = _border_median(gray)
    if border > MNIST_BORDER:
        return False
    otsu, _ = cv2.threshold((gray * 255 + 0.5).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return border < otsu / 255


def _has_ink(image: np.ndarray) -> bool:
    """Whether a white-on-black float32 [28, 28] image holds a digit: bright enough, more than a speck, and
    strokes rather than scattered dots (ink pixels side by side, as in every MNIST digit). A few calls on the one
    image, each the cheapest there is for its job: per-call cost is what a single image's latency is made of."""
    peak = cv2.minMaxLoc(image)[1]
    if peak < _MIN_PEAK:
        return False
    ink = cv2.inRange(image, peak / 2, _JUST_ABOVE_1)  # 255 where ink (peak / 2 is exact in float32), else 0
    pixels = cv2.countNonZero(ink)
    if pixels < MIN_INK_PIXELS:
        return False
    enough = MIN_COHERENCE * pixels * 255
    side_by_side = _pairs(ink[:, 1:], ink[:, :-1])
    return side_by_side >= enough or side_by_side + _pairs(ink[1:], ink[:-1]) >= enough


def _pairs(ink: np.ndarray, neighbours: np.ndarray) -> float:
    """255 times the pixels of a 0/255 mask that are ink with their neighbour ink too: the mask's sum where the
    neighbours' is set, in one OpenCV call (an AND and a count would take two)."""
    return cv2.norm(ink, cv2.NORM_L1, neighbours)


def _flat_ink(image: np.ndarray, gray: np.ndarray) -> tuple:
    """(ink strength float32 [h, w] in [0, 1] with the paper at 0, whatever the lighting and polarity;
    the paper's ink level (the median along the border) as a share of the peak, near 0 unless the image is noise
    or texture).

    Polarity is `dark_ink`'s. Coloured ink is read from its strongest channel (the darkest for dark ink:
    red ink on pink paper has little contrast in grey).
    The paper is estimated on a tiny copy where a max filter wider than any stroke removes the ink;
    dividing by it flattens gradients, shadows and colour casts. Ink along nearly a whole row or column
    (ruled lines, grids, paper edges and the table beyond) is taken away: it can be darker than the digit."""
    h, w = gray.shape
    small_size = _paper_size(h, w)
    dark = dark_ink(gray)
    if image.ndim == 3:
        b, g, r = cv2.split(image)
        light = cv2.min(cv2.min(b, g), r) if dark else 1 - cv2.max(cv2.max(b, g), r)
    else:
        light = gray if dark else 1 - gray  # the paper is the bright side from here on
    small = cv2.GaussianBlur(cv2.resize(light, small_size, interpolation=cv2.INTER_AREA), (3, 3), 0)
    paper = cv2.resize(cv2.GaussianBlur(cv2.dilate(small, _PAPER_KERNEL), (0, 0), 2), (w, h))
    if min(h, w) > 1.5 * IMAGE_SIZE:  # strokes are then wider than 2 px: a blur drops only noise and JPEG
        light = cv2.GaussianBlur(light, (0, 0), max(0.7, DENOISE * min(h, w)))
    ink = 1 - light / np.maximum(paper, 1 / 255)
    ink = _without_lines(ink)
    sample = (ink[::2, ::2] if ink.size > 4 * 1000 else ink).ravel()  # every other pixel: as good, 4x cheaper
    rank = int(sample.size * PEAK_PERCENTILE / 100)
    peak = np.partition(sample, rank)[rank]
    paper_level = _border_median(ink)  # the border is mostly paper, even where ink covers half a tight crop
    if peak - max(paper_level, 0) < MIN_CONTRAST:
        raise InvalidInputError(f"{NO_DIGIT}: the image is blank or too faint")
    return np.clip((ink - paper_level) / (peak - paper_level), 0, 1), max(paper_level, 0) / peak


def dark_ink(gray: np.ndarray) -> bool:
    """Whether the ink of a float grey image is darker than its paper.

    The border is mostly paper, even in a tight crop: when it lies near one end of the image's grey range, the paper
    is that end. When it does not (lines, a table or shadow along it), ink is the rare extreme: dark ink on light
    paper leaves a long dark tail in the grey's departures from its local mean (negative skew), light ink on dark
    paper a bright one; and when the skew is weak too, the border's side of the range decides. All on a copy
    PAPER_SIDE px long. The digit locator (locate.py) asks this of whole frames too."""
    small = cv2.resize(gray, _paper_size(*gray.shape), interpolation=cv2.INTER_AREA)
    darkest, brightest = np.percentile(small, [1, 99])
    position = (float(_border_median(small)) - darkest) / max(brightest - darkest, 1e-6)
    departure = small - cv2.GaussianBlur(small, (0, 0), 3)
    spread, skew = float(np.mean(departure * departure)), float(np.mean(departure * departure * departure))
    if BORDER_UNSURE < position < 1 - BORDER_UNSURE and abs(skew) > MIN_SKEW * spread ** 1.5:
        return skew < 0
    return position > 0.5


def _paper_size(h: int, w: int) -> tuple:
    """(width, height) of the copy PAPER_SIDE on its longer side that the paper is estimated on."""
    return max(1, round(w * PAPER_SIDE / max(h, w))), max(1, round(h * PAPER_SIDE / max(h, w)))


def _without_lines(ink: np.ndarray) -> np.ndarray:
    """The ink less, at each pixel, the ink that at least LINE_COVER of its row or column carries.

    A digit's strokes cover less of a row than that when the crop keeps paper around it, so only straight
    lines across the crop go; in a tight crop a broad stroke may cover rows too, but more of them than a line
    (LINE_WIDTH), with paper beyond. When nothing a quarter as strong as the strongest ink is left, the lines
    were the digit: a tightly cropped "1" spanning the crop."""
    lines = np.maximum(_line_floor(ink, axis=1)[:, None], _line_floor(ink, axis=0)[None, :])
    cleaned = ink - lines
    return cleaned if cleaned.max() * 4 >= ink.max() else ink


def _line_floor(ink: np.ndarray, axis: int) -> np.ndarray:
    """Per row (axis=1) or column (axis=0): the ink that LINE_COVER of it carries at least, from every 4th
    pixel along it (lines are straight: that tells as much, four times cheaper)."""
    along = ink[:, ::4] if axis == 1 else ink[::4]
    rank = int((1 - LINE_COVER) * along.shape[axis])
    floor = np.maximum(np.take(np.partition(along, rank, axis=axis), rank, axis=axis), 0)
    edges = np.flatnonzero(np.diff(np.r_[0, floor > MIN_CONTRAST, 0]))  # where runs of such rows start and end
    for start, end in zip(edges[::2], edges[1::2]):
        if 0 < start and end < len(floor) and end - start > LINE_WIDTH * len(floor):
            floor[start:end] = 0  # too wide for a line and paper on both sides: a stroke filling a tight crop
    return floor


def _digit_mask(ink: np.ndarray) -> tuple:
    """(uint8 0/1 mask of the digit, the Otsu level of the ink, the number of its parts): Otsu on the
    flattened ink, then its connected components of at least MIN_PART of the largest one's area, so specks
    do not widen the crop."""
    level, mask = cv2.threshold((ink * 255).astype(np.uint8), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels = cv2.connectedComponents(mask, connectivity=8)  # 8x cheaper than WithStats
    if count < 2:
        raise InvalidInputError(f"{NO_DIGIT}: no ink strokes in the image")
    area = np.bincount(labels.ravel(), minlength=count)
    kept = area >= MIN_PART * area[1:].max()
    kept[0] = False  # the paper
    parts = int(np.count_nonzero(kept))
    if parts > MAX_PARTS:
        raise InvalidInputError(f"{NO_DIGIT}: the image holds scattered specks, not strokes")
    return kept.astype(np.uint8)[labels], level / 255, parts


def _canonical_strokes(ink: np.ndarray, level: float) -> np.ndarray:
    """The cropped ink as binary strokes float32, its longest side CANON px, its strokes MNIST's width.

    Interpolating the grey ink before thresholding gives smooth strokes from low-resolution scans too.
    The width is measured as area over half the outline (exact for a long thin stroke)."""
    h, w = ink.shape
    scale = CANON / max(h, w)
    ink = cv2.resize(ink, (max(1, round(w * scale)), max(1, round(h * scale))),
                     interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad = CANON // 8  # room to widen the strokes
    strokes = cv2.copyMakeBorder((ink >= level).astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    contours, _ = cv2.findContours(strokes, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    width = 2 * np.count_nonzero(strokes) / max(sum(cv2.arcLength(c, True) for c in contours), 1)
    change = round((MNIST_STROKE * CANON / DIGIT_BOX - width) / 2)  # pixels to add (or take) on each side
    if change:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(change) + 1,) * 2)
        if change > 0:
            strokes = cv2.dilate(strokes, kernel)
        else:
            thinner = cv2.erode(strokes, kernel)
            if np.count_nonzero(thinner) * 3 > np.count_nonzero(strokes):  # never erode a digit away
                strokes = thinner
    x, y, w, h = cv2.boundingRect(strokes)
    return strokes[y:y + h, x:x + w].astype(np.float32)


def _centred(strokes: np.ndarray) -> np.ndarray:
    """Area-averaged into the DIGIT_BOX box (MNIST's anti-aliasing), centre of mass at the image centre."""
    h, w = strokes.shape
    scale = DIGIT_BOX / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = cv2.resize(strokes, size, interpolation=cv2.INTER_AREA)
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.float32)
    top, left = (IMAGE_SIZE - size[1]) // 2, (IMAGE_SIZE - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = digit
    m = cv2.moments(out)
    if m["m00"] > 0:  # whole-pixel shift, as MNIST: keeps strokes crisp
        shift = np.float32([[1, 0, round(IMAGE_SIZE / 2 - m["m10"] / m["m00"])],
                            [0, 1, round(IMAGE_SIZE / 2 - m["m01"] / m["m00"])]])
        out = cv2.warpAffine(out, shift, (IMAGE_SIZE, IMAGE_SIZE), flags=cv2.INTER_NEAREST, borderValue=0)
    return np.clip(out, 0.0, 1.0)


def _black_border(image: np.ndarray) -> bool:
    """Whether `_border_median` of a [28, 28] image with no negative pixel is 0: at least 57 of the 112 border
    pixels (corners twice) are, gathered by one `take` and counted by OpenCV instead of a sort."""
    return cv2.countNonZero(image.take(_BORDER)) < 2 * IMAGE_SIZE


def _border(images: np.ndarray) -> np.ndarray:
    """The outermost pixels of each [..., H, W] image: first and last rows, then first and last columns (corners
    twice)."""
    return np.concatenate([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], axis=-1)


# flat indices of a 28x28 image's border, for `_black_border`'s single `take`
_BORDER = _border(np.arange(IMAGE_SIZE * IMAGE_SIZE).reshape(IMAGE_SIZE, IMAGE_SIZE))


def _border_median(images: np.ndarray):
    """Median of `_border` of each [..., H, W] image (upper middle of the sorted border, as np.sort is ten times
    cheaper than np.median on a border this small)."""
    border = np.sort(_border(images), axis=-1)
    return border[..., border.shape[-1] // 2]


def _as_image(image) -> np.ndarray:
    """Validated float32 [H, W] grey or [H, W, 3] BGR in [0, 1], shrunk to at most WORK_PIXELS.
    An alpha channel is composited on white paper; when that leaves no contrast, the digit is the alpha
    itself (opaque = ink)."""
    a = np.asarray(image)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 2, 3, 4))):
        raise InvalidInputError(f"an image must be [H, W] or [H, W, 1|2|3|4], got shape {a.shape}")
    if a.size == 0:
        raise InvalidInputError(f"empty image (shape {a.shape})")
    height, width = a.shape[:2]
    check_pixels(width, height, f"array of shape {a.shape}")
    if max(height, width) > MAX_ASPECT * min(height, width):
        raise InvalidInputError(f"the {width}x{height} image is too thin to hold a digit "
                                f"(aspect ratio beyond {MAX_ASPECT}:1)")
    _check_dtype(a)
    if a.dtype.kind == "f":
        a = _to_float(a)  # every pixel checked before any is averaged away
    image = _to_float(_shrunk(a))
    if image.ndim == 2 or image.shape[2] == 1:
        return np.ascontiguousarray(image.reshape(image.shape[:2]))
    if image.shape[2] == 3:
        return image
    colour, alpha = image[:, :, :-1], image[:, :, -1:]
    if np.ptp(alpha) < MIN_CONTRAST:  # opaque (or a capture that leaves alpha at 0): the colour is the image
        on_paper = colour
    else:
        on_paper = colour * alpha + (1 - alpha)
        if np.ptp(on_paper) < MIN_CONTRAST:
            on_paper = alpha
    return np.ascontiguousarray(on_paper if on_paper.shape[2] == 3 else on_paper[:, :, 0])


def _shrunk(a: np.ndarray) -> np.ndarray:
    """The image halved until it has at most WORK_PIXELS pixels, in its own dtype (uint8, uint16 or float32):
    each halving is an exact 2x2 mean (bilinear at scale 1/2, three times cheaper than OpenCV's area
    resize), and a huge image never gets a float copy."""
    while a.shape[0] * a.shape[1] > WORK_PIXELS and min(a.shape[:2]) >= 2:
        height, width = a.shape[0] // 2, a.shape[1] // 2
        a = cv2.resize(a[:2 * height, :2 * width], (width, height), interpolation=cv2.INTER_LINEAR)
    return a


def _check_dtype(a: np.ndarray) -> None:
    if a.dtype != np.uint8 and a.dtype != np.uint16 and a.dtype.kind != "f":
        raise InvalidInputError(f"unsupported dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")


def _to_float(a: np.ndarray) -> np.ndarray:
    """Pixels of any shape as float32 in [0, 1]: uint8/uint16 scaled, floats checked (a view when already float32)."""
    # The usual input first, in as few calls as possible: one image's latency is made of per-call costs. One
    # OpenCV call (a third of numpy's cost) finds NaN, infinities and pixels outside [0, 1]; its upper bound is
    # exclusive (the next float32 above 1 is 1 + 1.2e-7). It also refuses -0.0, which the general test lets through.
    # OpenCV reads a C-contiguous [H, W], [H, W, C] or [N, 28, 28] array in place (its last axis as channels).
    if a.dtype is _FLOAT32 and a.flags.c_contiguous and a.size and cv2.checkRange(a, True, 0.0, _JUST_ABOVE_1)[0]:
        return a
    _check_dtype(a)
    if a.dtype == np.uint8 or a.dtype == np.uint16:
        return np.divide(a, np.float32(np.iinfo(a.dtype).max), dtype=np.float32)  # exactly MNIST / 255
    low, high = a.min(), a.max()  # NaN propagates into both, inf into one: a single pass finds all three
    if low >= 0 and high <= 1:  # one test for the usual case: NaN and infinities fail it too
        return a.astype(np.float32, copy=False)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInputError(f"image contains NaN or infinite values (shape {a.shape})")
    raise InvalidInputError(f"float images must lie in [0, 1], got [{low:g}, {high:g}]; "
                            "divide 8-bit pixels by 255 or pass them as uint8")
