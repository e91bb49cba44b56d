"""The ``tsl300`` command line.

Each subcommand is one module in :mod:`tsl300.commands` that defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; they are discovered here, so adding a
command never touches this file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .commands._args import check_required_output


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        yield importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tsl300",
        description="Temporal sentiment localization in untrimmed videos (audio + visual).",
    )
    parser.add_argument("--version", action="version", version=f"tsl300 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    check_required_output(args._parser, args)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Tsl300Error as exc:  # expected, user-facing errors: no traceback
        print(f"tsl300 {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # unwritable/missing folder, disk full: name the path, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tsl300 {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


from .errors import Tsl300Error  # noqa: E402  (kept below main for readability)

if __name__ == "__main__":
    sys.exit(main())
