"""`digitguard predict SOURCE...`: read the digit in each image file, folder or glob."""
import glob
import json
import sys
from pathlib import Path

from ..errors import ImageReadError
from ..imagefile import IMAGE_SUFFIXES  # folders and patterns pick these, skipping notes, manifests...
from ..pipeline import Result
from .common import add_model_options, load_pipeline, verb_parser

CHUNK = 256  # files read per pipeline call: memory stays bounded and results print as each chunk is done


def add_parser(subparsers):
    parser = verb_parser(subparsers, "predict", help="read the digit (or number) in image files",
                         description="Read the digit in each image; an image with several digits in a row is read "
                                     "as a number,\neach digit with its box. Unreadable items are "
                                     "reported one by one\nwhile the others still get results. Results print as "
                                     f"each {CHUNK} files are read, with a progress\nline on stderr when it is a "
                                     f"terminal and there are more than {CHUNK} files.")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="image file, folder (its image files) or glob pattern such as 'scans/*.png'; "
                             "a folder or pattern without images is reported as a failed input")
    parser.add_argument("--recursive", "-r", action="store_true",
                        help="also read the images in the subfolders of each folder (default: only its own)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per input and line instead of a table")
    add_model_options(parser)


def expand(sources, recursive=False) -> list:
    """The inputs, in the order given: file paths to read, and a failed Result for each folder or pattern that
    names no image file. A file named explicitly is always read (and reported if it is no image)."""
    items = []
    for source in sources:
        if Path(source).is_dir():
            files = Path(source).rglob("*") if recursive else Path(source).iterdir()
            where = "in this folder" + ("" if recursive else " (subfolders are read with --recursive)")
        elif glob.has_magic(source) and not Path(source).exists():
            files, where = map(Path, glob.glob(source, recursive=True)), "match this pattern"
        else:
            items.append(source)
            continue
        try:
            images = sorted(str(f) for f in files if f.suffix.lower() in IMAGE_SUFFIXES and not f.is_dir())
        except OSError as e:  # a folder we may not list
            images, where = [], f"could be listed ({e.strerror})"
        items += images or [Result(source, error=ImageReadError(
            f"{source}: no image files {where}; images are {' '.join(sorted(IMAGE_SUFFIXES))}"))]
    return items


def run(args) -> int:
    pipeline = load_pipeline(args)
    items = expand(args.sources, args.recursive)
    width = max([len("source")] + [len(item if isinstance(item, str) else item.source) for item in items])
    if not args.json:
        print(f"{'source':<{width}}  label  confidence  adversarial  flagged  purified  classifier")
    progress = len(items) > CHUNK and sys.stderr.isatty()
    all_ok = True
    for start in range(0, len(items), CHUNK):
        for result in _read(pipeline, items[start:start + CHUNK]):
            all_ok &= result.ok
            print(json.dumps(result.to_dict()) if args.json else _row(result, width), flush=True)
        if progress:
            done = min(start + CHUNK, len(items))
            print(f"\r{done:,}/{len(items):,} files read", end="\n" if done == len(items) else "",
                  file=sys.stderr, flush=True)
    return 0 if all_ok else 1


def _read(pipeline, items) -> list:
    """One Result per item: the pipeline's for the paths, in their place among the failed Results of expand."""
    paths = [item for item in items if isinstance(item, str)]
    results = iter(pipeline.predict(paths) if paths else [])
    return [item if isinstance(item, Result) else next(results) for item in items]


def _row(r, width: int) -> str:
    if not r.ok:  # the row already names the source
        return f"{r.source:<{width}}  error: {str(r.error).removeprefix(r.source + ': ')}"
    if r.number is not None:  # the weakest digit's confidence; no one classifier or purification for all
        return (f"{r.source:<{width}}  {r.number:>5}  {min(d.confidence for d in r.digits):>10.3f}  "
                f"{r.adversarial_score:>11.3f}  {'yes' if r.flagged else 'no':>7}  {'-':>8}  -")
    label = "reject" if r.label is None else r.label
    return (f"{r.source:<{width}}  {label:>5}  {r.confidence:>10.3f}  {r.adversarial_score:>11.3f}  "
            f"{'yes' if r.flagged else 'no':>7}  {'yes' if r.purified else 'no':>8}  {r.classifier}")
