"""The `digitguard` verbs, one module each: `add_parser(subparsers)` registers it, `run(args) -> int` runs it."""
