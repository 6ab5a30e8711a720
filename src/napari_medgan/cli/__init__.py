"""The ``napari-medgan`` command line: ``train``, ``generate``, ``evaluate`` and ``demo``.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
all of them are thin shells over :mod:`napari_medgan.engine`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .common import EXPECTED_ERRORS, OneLineParser, fail

SUBCOMMANDS = ("train", "generate", "evaluate", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands registered from their modules)."""
    from napari_medgan import __version__

    parser = OneLineParser(
        prog="napari-medgan",
        description="Train GANs / conditional GANs on CT and MRI scans; generate synthetic ones.",
    )
    parser.add_argument("--version", action="version", version=f"napari-medgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for any bad input, with one line on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as exc:
        return fail(f"{args.command}: {exc}")
    except KeyboardInterrupt:
        return fail(f"{args.command}: interrupted", status=130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
