"""napari stays responsive while the widgets train, generate and evaluate: one run, one table.

Measured in one process, in this order, on the MNI152 sample at the CPU defaults
(``default_for_device("cpu")``) with the live loss plot and the preview layer on:

1. **headless**: the engine's ``Trainer`` alone, no viewer, at torch's default thread count
   and at the child's (every core but one); the faster one is the 100 % steps/s baseline;
2. **thread** (the old design, for the decision): the same trainer in a napari thread worker
   of this process, its reports fed to the same loss plot and preview layer;
3. **Train widget**: the shipped design (a child process, reports polled 10x/s);
4. **Generate**: the Generate widget samples 256 images from the checkpoint of 3;
5. **Evaluate**: the Evaluate widget scores that checkpoint (settings in the table);
6. **GPU memory** (only where CUDA exists): free device memory before a short Train widget run
   on the GPU, while it trains and after its child process has ended.

A QTimer asks to fire every 10 ms; how late each firing comes is how long the GUI could not
react. Prints a markdown table and appends it to ``--out``::

    xvfb-run -a python benchmarks/gui_latency.py --out benchmarks/results_gui.md
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np


def measure(app, until, max_s: float, min_s: float = 0.0, interval_ms: int = 10) -> np.ndarray:
    """Delays (ms) of an ``interval_ms`` timer while the event loop runs until ``until()``
    (checked every firing) after at least ``min_s`` seconds, or ``max_s`` seconds."""
    from qtpy.QtCore import QEventLoop, QTimer

    delays: list[float] = []
    t0 = last = time.perf_counter()
    loop = QEventLoop()

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        delays.append((now - last) * 1000 - interval_ms)
        last = now
        if now - t0 >= max_s or (now - t0 >= min_s and until()):
            loop.quit()

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    timer.start()
    loop.exec()
    timer.stop()
    return np.maximum(np.asarray(delays[1:]), 0.0)


def spin(app, until, timeout: float = 600.0) -> None:
    t0 = time.perf_counter()
    while not until() and time.perf_counter() - t0 < timeout:
        app.processEvents()
        time.sleep(0.01)


def row(label: str, rate: str, d: np.ndarray) -> str:
    return (
        f"| {label} | {rate} | {len(d)} | {np.median(d):.1f} | {np.percentile(d, 95):.1f} | "
        f"{np.percentile(d, 99):.1f} | {d.max():.1f} |"
    )


def headless_rate(config, volumes, seconds: float, threads: int | None = None) -> float:
    """Steps/s of the engine alone in the main thread, after two warm-up steps, with
    ``threads`` torch CPU threads (default: torch's own choice)."""
    import torch

    from napari_medgan.engine import Trainer, build_dataset

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)

    cfg = config.replace(out_dir=tempfile.mkdtemp(prefix="medgan-headless-"), steps=10**6)
    trainer = Trainer(cfg, build_dataset(volumes, cfg.size, cfg.slice_axis, cfg.min_foreground))
    it = trainer.run()
    for _ in range(2):
        next(it)
    t0, s0 = time.perf_counter(), trainer.step
    while time.perf_counter() - t0 < seconds:
        next(it)
    rate = (trainer.step - s0) / (time.perf_counter() - t0)
    trainer.stop()
    for _ in it:
        pass
    trainer.close()
    torch.set_num_threads(before)
    return rate


def thread_design(app, viewer, config, volumes, seconds: float):
    """The old design: the trainer in a napari thread worker, every report drawn."""
    from napari.qt.threading import create_worker

    from napari_medgan.engine import Trainer, build_dataset
    from napari_medgan.widgets.common.preview import show_preview
    from napari_medgan.widgets.train.loss_plot import LossPlot

    cfg = config.replace(out_dir=tempfile.mkdtemp(prefix="medgan-thread-"), steps=10**6)
    ds = build_dataset(volumes, cfg.size, cfg.slice_axis, cfg.min_foreground)
    trainer = Trainer(cfg, ds)
    plot = LossPlot()
    dock = viewer.window.add_dock_widget(plot, name="thread baseline plot")
    spacing = next(iter(ds.geometry.values())).pixel_spacing

    def on_report(r) -> None:
        plot.add(r.step, **r.losses)
        if r.preview is not None:
            show_preview(viewer, r.preview, r.preview_names, spacing, step=r.step)

    def reports():  # a generator function, so napari makes a GeneratorWorker (run() returns one)
        yield from trainer.run()

    worker = create_worker(reports, _connect={"yielded": on_report})
    spin(app, lambda: trainer.step >= 2)
    s0, t0 = trainer.step, time.perf_counter()
    delays = measure(app, lambda: False, seconds)
    rate = (trainer.step - s0) / (time.perf_counter() - t0)
    trainer.stop()
    spin(app, lambda: not worker.is_running)
    trainer.close()
    viewer.window.remove_dock_widget(dock)
    return rate, delays


def gpu_memory_check(app, viewer, config, seconds: float = 10.0) -> str:
    """Free CUDA memory (``torch.cuda.mem_get_info``) before, during and after a Train widget
    run on the GPU; empty without CUDA. The child owns the device, so its memory should come
    back when it exits. This process's own CUDA context is made before the first reading."""
    import torch

    if not torch.cuda.is_available():
        return ""
    from napari_medgan.widgets.train.state import TrainState
    from napari_medgan.widgets.train.widget import TrainWidget

    mib = 2**20
    before = torch.cuda.mem_get_info()[0]
    widget = TrainWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Train GAN (GPU)")
    out = tempfile.mkdtemp(prefix="medgan-gpu-")
    widget.settings.apply(**{**config.to_dict(), "device": "cuda", "steps": 10**6, "out_dir": out})
    widget.start()
    spin(app, lambda: widget.last_report is not None and widget.last_report.step >= 2)
    measure(app, lambda: False, seconds)
    during = torch.cuda.mem_get_info()[0]
    widget.stop()
    spin(app, lambda: widget.state is TrainState.IDLE)
    after = torch.cuda.mem_get_info()[0]
    viewer.window.remove_dock_widget(dock)
    return (
        f"GPU memory free: {before / mib:.0f} MiB before training, {during / mib:.0f} MiB while "
        f"the child trains, {after / mib:.0f} MiB after it ended (returned: "
        f"{(after - during) / mib:.0f} of {(before - during) / mib:.0f} MiB)."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="per training measurement")
    p.add_argument("--generate", type=int, default=256, help="images sampled by Generate")
    p.add_argument("--eval-samples", type=int, default=256)
    p.add_argument("--eval-net-steps", type=int, default=100)
    p.add_argument("--eval-boot", type=int, default=100)
    p.add_argument("--eval-max-s", type=float, default=120.0)
    p.add_argument("--no-thread", action="store_true", help="skip the thread baseline")
    p.add_argument("--out", help="append the markdown table to this file")
    args = p.parse_args()

    import napari

    from napari_medgan._sample_data import mni152
    from napari_medgan.engine import default_for_device
    from napari_medgan.widgets.common.layers import Choice, to_volumes
    from napari_medgan.widgets.evaluate.widget import EvaluateWidget
    from napari_medgan.widgets.generate.widget import GenerateWidget
    from napari_medgan.widgets.train.state import TrainState
    from napari_medgan.widgets.train.widget import TrainWidget

    load = os.getloadavg()
    app = napari.qt.get_qapp()
    viewer = napari.Viewer(show=True)
    for data, kwargs, _ in mni152():
        viewer.add_image(data, **kwargs)
    config = default_for_device("cpu")
    config.device, config.slice_axis, config.preview_every = "cpu", 0, 20
    config.checkpoint_every = 0
    volumes = to_volumes([Choice(lay, lay.name) for lay in viewer.layers], True)
    cfg_text = (
        f"{config.size} px, batch {config.batch_size}, widths {config.base_channels}/"
        f"{config.max_channels}, preview every {config.preview_every}"
    )

    import torch

    from napari_medgan.engine.runner import cpu_threads_beside_gui

    n_default, n_child = torch.get_num_threads(), cpu_threads_beside_gui()
    rates = {n: headless_rate(config, volumes, args.seconds, n) for n in {n_default, n_child}}
    headless = max(rates.values())  # the baseline: the faster headless configuration
    rows = [row("idle viewer", "–", measure(app, lambda: False, 3.0))]
    for n, r in sorted(rates.items()):
        rows.append(f"| headless engine (no viewer), same config, {n} torch thread(s) | "
                    f"{_pct(r, headless)} | – | – | – | – | – |")  # fmt: skip
        print(rows[-1], flush=True)
    if not args.no_thread:
        rate, d = thread_design(app, viewer, config, volumes, args.seconds)
        rows.append(row("old design: trainer in a napari thread worker", _pct(rate, headless), d))
        print(rows[-1], flush=True)

    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train GAN")
    out = tempfile.mkdtemp(prefix="medgan-latency-")
    widget.settings.apply(**{**config.to_dict(), "steps": 10**6, "out_dir": out})
    widget.start()
    spin(app, lambda: widget.last_report is not None and widget.last_report.step >= 2)
    step0, t0, c0 = widget.last_report.step, time.perf_counter(), time.process_time()
    if os.environ.get("MEDGAN_PROFILE"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    d = measure(app, lambda: False, args.seconds)
    if os.environ.get("MEDGAN_PROFILE"):
        prof.disable()
        prof.dump_stats(os.environ["MEDGAN_PROFILE"])
    rate = (widget.last_report.step - step0) / (time.perf_counter() - t0)
    gui_cpu = (time.process_time() - c0) / (time.perf_counter() - t0)
    print(f"napari process CPU while the child trains: {100 * gui_cpu:.0f} % of a core", flush=True)
    t_stop = time.perf_counter()
    widget.stop()
    spin(app, lambda: widget.state is TrainState.IDLE)
    stop_s = time.perf_counter() - t_stop
    rows.append(row(
        f"Train widget (child process, {n_child} torch thread(s); napari's process "
        f"{100 * gui_cpu:.0f} % of a core; screen updates {widget.feedback.refreshes})",
        _pct(rate, headless), d))  # fmt: skip

    gen = GenerateWidget(viewer)
    viewer.window.add_dock_widget(gen, name="Generate")
    assert gen.load(out)
    gen.n.setValue(args.generate)
    t0 = time.perf_counter()
    gen.generate()
    d = measure(app, lambda: not gen.busy, 300.0, min_s=0.5)
    gen_s = time.perf_counter() - t0
    rows.append(row(f"Generate {args.generate} images (thread worker, {gen_s:.1f} s incl. "
                    "adding the layer)", "–", d))  # fmt: skip

    ev = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(ev, name="Evaluate")
    assert ev.load(out)
    ev.table.set_choices({n: n for n in ev.sampler.class_names})
    ev.n.setValue(args.eval_samples)
    ev.net_steps.setValue(args.eval_net_steps)
    ev.n_boot.setValue(args.eval_boot)
    t0 = time.perf_counter()
    ev.evaluate()
    d = measure(app, lambda: ev.job is None, args.eval_max_s, min_s=0.5)
    ev_s = time.perf_counter() - t0
    finished = ev.job is None and ev.result is not None
    ev.cancel()
    spin(app, lambda: ev.job is None)
    rows.append(row(
        f"Evaluate ({args.eval_samples} samples, net steps {args.eval_net_steps}, bootstrap "
        f"{args.eval_boot}; child process, {ev_s:.0f} s, {'done' if finished else 'cut off'})",
        "–", d))  # fmt: skip

    gpu = gpu_memory_check(app, viewer, config)
    if gpu:
        print(gpu, flush=True)
    header = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average before the run "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min); config: {cfg_text}; "
        f"Train widget stop (finish the step + save) took {stop_s:.1f} s."
        + (f" {gpu}" if gpu else " No CUDA device: GPU memory release not measured."),
        "",
        "| what runs | steps/s (vs headless) | timer firings | median delay ms | p95 ms | "
        "p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    text = "\n".join(header + rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(f"\n### {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n{text}")
    viewer.close()


def _pct(rate: float, base: float) -> str:
    return f"{rate:.2f} ({100 * rate / base:.0f} %)"


if __name__ == "__main__":
    main()
