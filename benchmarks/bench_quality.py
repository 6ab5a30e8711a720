"""The quality benchmark's one entry: ``python benchmarks/bench_quality.py COMMAND ...``.

Commands: run (the default), speed, levels, report, sheet, perlevel; ``--help`` lists them and
``COMMAND --help`` gives each one's options. The code is the package ``benchmarks/quality/``.
"""

from __future__ import annotations

from quality.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
