"""Where the handwritten digits of a frame or photo are: one locator for `digitguard camera` and `predict`.

Ink is found whatever its polarity (dark on light paper, or chalk on a board: `preprocess.dark_ink`) by a
local threshold on a copy at most WORK_WIDTH wide; rows and columns of it that are lines (ruled paper, grids, the
paper's edge) are taken out, specks left out, and the blobs that look like digits are boxed, left to right.
"""
import cv2
import numpy as np

from .contract import IMAGE_SIZE
from . import preprocess

WORK_WIDTH = 320  # digits are located on a copy this wide: 4x fewer pixels than 640x480, digits still >= 10 px
POLARITY_WIDTH = 160  # polarity is judged on a copy this wide: as sure, 3x cheaper than at WORK_WIDTH
INK_OFFSET = 12  # a pixel is ink when this many grey levels darker than its neighbourhood (paper noise is less)
MIN_HEIGHT, MAX_HEIGHT = 0.05, 0.9  # digit height as a fraction of the frame height
MIN_ASPECT, MAX_ASPECT = 0.1, 2.5  # width / height: a "1" is thin, a hasty "2" can be twice as wide as tall
MARGIN = 0.15  # crop this much of the box side around the ink, so to_mnist sees the paper around it
LINE_COVER = 0.6  # a row this much ink is a line (measured best even for numbers whose bars align, as "777")
COLUMN_COVER = 0.75  # a column this much ink is a line: grid paper, a margin (a digit in a crop with MARGIN: 0.77)
REJOIN = 9  # px at the working size: strokes a line crossed are joined again across gaps up to this wide
SPECK = 0.25  # ink pieces smaller than this share of the tallest one are specks or dots, not parts of digits
SHORTEST = 0.5  # and boxes shorter than this share of the tallest: the digits of a number are about one height
JOIN = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
# A still reads as a number only when its digits stand in a row like the digits of one number do: a tight
# crop of one digit whose broken strokes, specks or ruled lines were boxed too is read whole instead.
ROW_OVERLAP = 0.5  # neighbours share at least this share of the shorter one's rows
ROW_GAP = 0.1  # paper at least this share of the tallest height between neighbours (a digit broken in two has less)
EDGE = 2  # px: a box (a piece: at the working size) this close to the edge is cut off, a line or the paper's edge


def locate_digits(gray: np.ndarray) -> list:
    """Bounding boxes (x, y, w, h) in `gray`'s pixels (uint8) of the ink blobs that look like digits, left to right."""
    height, width = gray.shape
    scale = min(1.0, WORK_WIDTH / width)
    small = cv2.resize(gray, (WORK_WIDTH, max(1, round(height * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1 else gray
    small = cv2.GaussianBlur(small, (3, 3), 0)  # sensor noise would otherwise pass the threshold as specks
    height, width = small.shape
    probe = cv2.resize(small, (POLARITY_WIDTH, max(1, round(height * POLARITY_WIDTH / width))),
                       interpolation=cv2.INTER_AREA) if width > POLARITY_WIDTH else small
    if not preprocess.dark_ink(probe.astype(np.float32)):
        small = cv2.bitwise_not(small)  # light ink on dark paper: make the ink the dark side
    block = max(15, width // 10) | 1  # wider than a stroke, so strokes come out solid; odd as OpenCV requires
    # A local (adaptive) threshold copes with paper lit unevenly, where one global (Otsu) level does not.
    ink = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, INK_OFFSET)
    ink, columns = _without_lines(ink, block)
    ink = cv2.dilate(ink, JOIN)  # rejoin the pieces of one digit (a 5's hat, a broken stroke)
    contours, _ = cv2.findContours(ink, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # Pieces reaching the top or bottom edge are what is left of a line or the paper's edge, or a digit cut off
    # (never one of a number's: `in_a_row`); merged into the digit below or above them, they would stretch its box.
    pieces = [(x, y, w, h) for x, y, w, h in map(cv2.boundingRect, contours) if EDGE < y and y + h < height - EDGE]
    # Pieces of at least half the smallest digit and SPECK of the tallest piece; smaller ones are specks and dots,
    # which would otherwise be merged into the digit above or below them.
    least = max(MIN_HEIGHT * height / 2, SPECK * max((h for _, _, _, h in pieces), default=0))
    boxes = [(x, y, w, h) for x, y, w, h in _merged(sorted(b for b in pieces if max(b[2], b[3]) >= least), _stacked)
             if MIN_HEIGHT * height <= h <= MAX_HEIGHT * height and MIN_ASPECT <= w / h <= MAX_ASPECT]
    # A tight crop's stroke can cover a column as a ruled line does (a 1's stem, blockily upscaled): taken out, it
    # leaves the flag and the foot on either side as two digits. Digits of a number have paper between them.
    boxes = _merged(boxes, lambda left, right: _across_a_line(left, right, columns))
    tallest = max((h for _, _, _, h in boxes), default=0)
    return [tuple(round(v / scale) for v in box) for box in boxes if box[3] >= SHORTEST * tallest]


def _without_lines(ink: np.ndarray, block: int) -> tuple:
    """(The binary ink without its rows and columns that ink runs along, bool per column: taken out as a line.)

    Such lines are ruled lines, grid lines, margins, the paper's edge and the table beyond it. Left in, a line joins
    every digit it touches into one blob. A line has gaps where it is faint and beside a digit's strokes (they
    darken the local threshold's `block`): gaps up to half a block along it are bridged, and a row counts as a line
    when LINE_COVER of it is ink, a column when COLUMN_COVER is (digits of a number stand in a row: a column is
    crossed by one digit at most). The line's blurred edges go with it, and the strokes it crossed are joined again
    across the gap it leaves.

    A column taken out of a tight crop of one digit (a "1", a "4"'s stem) can leave it in pieces: pieces with only
    taken-out columns between them are united again (`_across_a_line`), and pieces read as a number must stand
    apart in a row clear of the image's edges (`in_a_row`), which a tight crop's do not."""
    lines, columns = _lines(ink, block, 1, LINE_COVER), _lines(ink, block, 0, COLUMN_COVER)
    if not (lines.any() or columns.any()):
        return ink, columns
    ink = ink.copy()
    ink[lines] = 0
    ink[:, columns] = 0
    across = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (REJOIN, 1)))
    ink[:, columns] = across[:, columns]
    across = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (1, REJOIN)))
    ink[lines] = across[lines]
    return ink, columns


def _lines(ink: np.ndarray, block: int, axis: int, cover: float) -> np.ndarray:
    """bool per row (axis 1) or column (axis 0): a line, or beside one (a blurred line's edges fall short of
    `cover`)."""
    along = (block // 2, 1) if axis == 1 else (1, block // 2)
    bridged = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, along))
    line = cv2.reduce(bridged, axis, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel() >= cover * 255
    beside = line.copy()
    beside[1:] |= line[:-1]
    beside[:-1] |= line[1:]
    return beside


def _merged(boxes, one_digit):
    """Boxes (sorted by x), each with the next united when `one_digit(box, next)` says they are one digit's pieces."""
    merged = []
    for x, y, w, h in boxes:
        if merged and one_digit(merged[-1], (x, y, w, h)):
            mx, my, mw, mh = merged[-1]
            left, top = min(mx, x), min(my, y)
            merged[-1] = (left, top, max(mx + mw, x + w) - left, max(my + mh, y + h) - top)
        else:
            merged.append((x, y, w, h))
    return merged


def _stacked(box, following) -> bool:
    """Whether two boxes mostly share their columns: the broken strokes of one digit lie above one another, while
    the digits of a number lie side by side."""
    (x, _, w, _), (fx, _, fw, _) = box, following
    return min(x + w, fx + fw) - fx >= 0.5 * min(w, fw)


def _across_a_line(box, following, columns) -> bool:
    """Whether only columns taken out as a line lie between two boxes that share rows: one stroke, not paper."""
    (x, y, w, h), (fx, fy, _, fh) = box, following
    gap = columns[x + w - 1:fx + 1]
    return fx >= x + w - 1 and bool(gap.all()) and min(y + h, fy + fh) > max(y, fy)


def crop(gray: np.ndarray, box) -> np.ndarray:
    """The box with MARGIN of paper around it, as to_mnist wants its crops."""
    x, y, w, h = box
    pad = round(MARGIN * max(w, h))
    return gray[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad]


def locatable(shape) -> bool:
    """Whether the locator runs on an image of this shape: not on MNIST-sized inputs (28x28 or smaller, one
    digit by construction) nor on strips too thin to hold a digit (to_mnist names the problem)."""
    height, width = shape[:2]
    return min(height, width) > IMAGE_SIZE and max(height, width) <= preprocess.MAX_ASPECT * min(height, width)


def in_a_row(boxes, shape) -> bool:
    """Whether the boxes (left to right, at least two) stand like the digits of one number written in a row."""
    height, width = shape[:2]
    tallest = max(h for _, _, _, h in boxes)
    if any(x < EDGE or y < EDGE or x + w > width - EDGE or y + h > height - EDGE for x, y, w, h in boxes):
        return False
    return all(min(ay + ah, by + bh) - max(ay, by) >= ROW_OVERLAP * min(ah, bh)
               and bx - (ax + aw) >= ROW_GAP * tallest
               for (ax, ay, aw, ah), (bx, by, bw, bh) in zip(boxes, boxes[1:]))


def apart(boxes, mask: np.ndarray, shape) -> bool:
    """Whether paper parts each two neighbouring boxes (left to right, in the pixels of an image of `shape`) in
    `mask`, an ink mask of that image at any scale (`preprocess.ink_mask`): some column of the gap between them,
    along the rows they share, holds no ink. A digit whose broad strokes the local threshold left as two bars (a
    thick 4 without its crossbar) has ink across its gap; a gap narrower than a mask pixel cannot tell, and passes."""
    scale = mask.shape[1] / shape[1]
    for (ax, ay, aw, ah), (bx, by, bw, bh) in zip(boxes, boxes[1:]):
        left, right = int(np.ceil((ax + aw) * scale)), int(bx * scale)
        top, bottom = int(max(ay, by) * scale), int(np.ceil(min(ay + ah, by + bh) * scale))
        gap = mask[top:bottom, left:right]
        if gap.size and gap.any(axis=0).all():
            return False
    return True
