"""The `kornews` command: a table of thin verbs. Nothing here parses or imports heavy modules at import time."""
import argparse
import sys

from . import __version__
from .errors import KornewsError


# --- verbs: each parses nothing itself, calls the library, prints the result ---------------------

def backbone(args):
    from . import backbones
    if args.action == "pull":
        for name in args.names or [backbones.DEFAULT]:
            print(backbones.pull(name, force=args.force))
    elif args.action == "list":
        for row in backbones.list_backbones():
            state = "cached" if row["cached"] else "not built"
            print(f"{row['name']:<16} {state:<10} {row['description']}")
    elif args.action == "info":
        for key, value in backbones.info(args.names[0] if args.names else backbones.DEFAULT).items():
            print(f"{key:<20} {value}")


def data(args):
    from . import data as data_mod
    if args.action == "info":
        print(data_mod.info(args.source, encoding=args.encoding))


VERBS = {
    # name: (help, function, argument builder)
    "backbone": ("pull, list or describe encoder backbones", backbone, lambda p: (
        p.add_argument("action", choices=["pull", "list", "info"]),
        p.add_argument("names", nargs="*", help="backbone names (default: me5-small)"),
        p.add_argument("--force", action="store_true", help="rebuild even if cached"))),
    "data": ("describe a dataset: rows, labels, text lengths", data, lambda p: (
        p.add_argument("action", choices=["info"]),
        p.add_argument("source", help="a named dataset (knews8, ynat), optionally NAME:SPLIT, or a file path"),
        p.add_argument("--encoding", default=None, help="file encoding (default: detect utf-8, utf-8-sig, cp949)"))),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kornews", description=__doc__.split("\n")[0].split(":")[0] or "kornews")
    parser.description = "Fine-tune transformer encoders to classify Korean news by topic, and serve them."
    parser.add_argument("--version", action="version", version=f"kornews {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (help_text, func, add_args) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_args(p)
        p.set_defaults(func=func)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    args.extra = extra
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        args.func(args)
    except KornewsError as e:
        print(f"kornews: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kornews: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
