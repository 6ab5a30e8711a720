"""The ``napari-medgan`` command line: train, generate, translate, synthesize, evaluate, demo.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args) -> int``;
all of them are thin shells over :mod:`napari_medgan.engine`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .common import EXPECTED_ERRORS, OneLineParser, fail

SUBCOMMANDS = ("train", "generate", "translate", "synthesize", "evaluate", "demo")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands registered from their modules)."""
    from napari_medgan import __version__

    parser = OneLineParser(
        prog="napari-medgan",
        description="Train GANs / conditional GANs on CT and MRI scans; generate synthetic ones.",
    )
    parser.add_argument("--version", action="version", version=f"napari-medgan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_parser(sub)
    for subparser in sub.choices.values():  # also accepted after the subcommand
        subparser.add_argument(
            "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
    return parser


VERBOSE_HELP = "log what the engine does to stderr (-v: info, -vv: debug)"


def configure_logging(verbosity: int) -> None:
    """Send the package's log records to stderr at info (1) or debug (2+); 0 leaves it silent."""
    logger = logging.getLogger("napari_medgan")
    for old in [h for h in logger.handlers if h.get_name() == "napari-medgan-cli"]:
        logger.removeHandler(old)  # main() called again in one process (tests, scripts)
        logger.setLevel(logging.NOTSET)
    if verbosity <= 0:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("napari-medgan-cli")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for any bad input, with one line on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "verbose", 0))
    try:
        return int(args.func(args) or 0)
    except EXPECTED_ERRORS as exc:
        return fail(f"{args.command}: {exc}")
    except KeyboardInterrupt:
        return fail(f"{args.command}: interrupted", status=130)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
