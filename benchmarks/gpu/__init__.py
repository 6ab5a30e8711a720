"""The GPU check: every GPU claim of the project measured in one short run.

Run it through ``benchmarks/gpu_check.py`` (the one entry script; docs/gpu.md says how). The
modules, each importing only those listed before it:

* :mod:`.profile` – sizes, step counts and budgets of a GPU run and of the CPU dry run;
* :mod:`.env` – what the machine has, checked before anything is measured;
* :mod:`.textbook` – the quality benchmark's textbook loop on any device and precision;
* :mod:`.measure` – speed and peak memory, host synchronisations, held-out SWD after time
  budgets, device memory around a child-process run started as the Train widget starts it;
* :mod:`.table` – the results as rows, a markdown table and a JSON file.
"""
