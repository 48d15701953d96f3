"""`digitguard predict SOURCE...`: read the digit in each image file, folder or glob."""
import glob
import json
from pathlib import Path

from .common import add_model_options, load_pipeline, verb_parser

# what OpenCV decodes; a folder's other files (notes, manifests...) are not inputs
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}


def add_parser(subparsers):
    parser = verb_parser(subparsers, "predict", help="read the digit in image files",
                         description="Read the digit in each image (one digit per image). Unreadable items are "
                                     "reported one by one while the others still get results.")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="image file, folder (its images) or glob pattern such as 'scans/*.png'")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per input and line instead of a table")
    add_model_options(parser)


def expand(sources) -> list:
    """Files to read, in the order given; a pattern matching nothing stays, to be reported as missing."""
    paths = []
    for source in sources:
        if Path(source).is_dir():
            paths += sorted(str(p) for p in Path(source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif glob.has_magic(source) and not Path(source).exists():
            paths += sorted(glob.glob(source, recursive=True)) or [source]
        else:
            paths.append(source)
    return paths


def run(args) -> int:
    pipeline = load_pipeline(args)
    results = pipeline.predict(expand(args.sources))
    if args.json:
        for result in results:
            print(json.dumps(result.to_dict()), flush=True)
    else:
        print_table(results)
    return 0 if all(result.ok for result in results) else 1


def print_table(results) -> None:
    width = max([len("source")] + [len(r.source) for r in results])
    print(f"{'source':<{width}}  label  confidence  adversarial  flagged  purified  classifier")
    for r in results:
        if not r.ok:
            print(f"{r.source:<{width}}  error: {r.error}")
            continue
        label = "reject" if r.label is None else r.label
        print(f"{r.source:<{width}}  {label:>5}  {r.confidence:>10.3f}  {r.adversarial_score:>11.3f}  "
              f"{'yes' if r.flagged else 'no':>7}  {'yes' if r.purified else 'no':>8}  {r.classifier}")
