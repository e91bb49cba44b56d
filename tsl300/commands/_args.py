"""Argument conventions shared by every command: an example in each ``--help``, one spelling for
the output folder (``-o/--output-dir DIR``; older spellings still work, with a note), repeatable
and comma-separated list options (``-f json -f csv`` = ``-f json,csv``)."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def with_examples(parser: argparse.ArgumentParser, *examples: str) -> argparse.ArgumentParser:
    """Add an ``examples:`` block to the command's ``--help`` (every command has at least one)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    parser.set_defaults(_examples=list(examples))
    return parser


class _DeprecatedSpelling(argparse.Action):
    """An old option name kept working: stores its value and says which name replaces it."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: note: {option_string} is deprecated; use -o/--output-dir", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_output_dir(parser: argparse.ArgumentParser, help: str, *, default: str | None = None,
                   required: bool = False, old: Sequence[str] = ()) -> None:
    """``-o/--output-dir DIR`` (a folder, created when missing), plus deprecated ``old`` spellings."""
    parser.add_argument("-o", "--output-dir", dest="output_dir", metavar="DIR", default=default,
                        help=help + ("" if default is None else f" (default: {default})"))
    for spelling in old:
        parser.add_argument(spelling, dest="output_dir", metavar="DIR", action=_DeprecatedSpelling,
                            help=argparse.SUPPRESS)
    if required:
        parser.set_defaults(_required_output=True)


def check_required_output(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's own error (exit 2) when a required ``-o/--output-dir`` was not given."""
    if getattr(args, "_required_output", False) and getattr(args, "output_dir", None) is None:
        parser.error("the following arguments are required: -o/--output-dir")


def comma_list(choices: Sequence[str] | None = None, what: str = "value"):
    """An argparse ``type`` for ``a,b,c`` (use with ``action="append"``; see :func:`flatten`)."""
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"empty {what} list")
        if choices is not None:
            from ..suggest import did_you_mean

            for item in items:
                if item not in choices:
                    raise argparse.ArgumentTypeError(
                        f"invalid {what} {item!r}{did_you_mean(item, choices)} (choose from {', '.join(choices)})")
        return items
    return parse


def flatten(values: Sequence[Sequence[str]] | None, default: Sequence[str]) -> list[str]:
    """Repeated comma lists as one ordered, duplicate-free list (``default`` when none given)."""
    if not values:
        return list(default)
    return list(dict.fromkeys(item for group in values for item in group))
