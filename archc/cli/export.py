"""`archc export --onnx` (verified ONNX files) and `archc bench` (eager vs compile vs ONNX Runtime)."""

from __future__ import annotations


import click

from . import main
from .messages import echo_json, wrote
from .options import spec_options


def _batch(value: str) -> str | int:
    if value == "dynamic":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise click.BadParameter(f"'{value}' is neither 'dynamic' nor a positive batch size", param_hint="--batch")


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.1f} KiB"


@main.command()
@click.argument("file", type=click.Path())
@click.option("--onnx", "to_onnx", is_flag=True, help="Export to ONNX (the one format so far).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output file [default: NAME.onnx].")
@click.option("--opset", type=click.IntRange(min=18), help="ONNX opset [default: the installed torch's].")
@click.option("--batch", default="dynamic", show_default=True, help="'dynamic' or a fixed batch size.")
@spec_options
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="Weights saved by `archc build -o`.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the built weights (without --weights).")
@click.option("--fp16", is_flag=True, help="Float16 weights and compute; inputs and outputs stay float32.")
@click.option("--simplify", is_flag=True, help="Simplify with onnxslim, then verify again.")
@click.option("--no-check", is_flag=True, help="Skip onnx.checker and the ONNX Runtime parity check.")
@click.option("--provider", type=click.Choice(["cpu", "cuda", "tensorrt"]),
              help="ONNX Runtime provider for the check [default: the best that works here].")
@click.option("--json", "as_json", is_flag=True, help="Print what was written and verified as JSON.")
def export(file, to_onnx, output, opset, batch, spec_kwargs, weights, seed, fp16, simplify, no_check, provider,
           as_json):
    """Export a spec to ONNX, then check it and compare ONNX Runtime with PyTorch."""
    from ..opset import opset_problem

    if not to_onnx:
        raise click.UsageError("choose an export format: --onnx")
    if opset is not None and (problem := opset_problem(opset)):
        raise click.BadParameter(problem, param_hint="--opset")
    from ..onnx_export import ExportFailed, export_onnx
    from ..outputs import OutputRefused
    from ..runtime import ProviderUnavailable
    try:
        report = export_onnx(file, output, params=spec_kwargs["params"], input_shape=spec_kwargs["input_shape"],
                             max_params=spec_kwargs["max_params"], weights=weights, seed=seed,
                             batch=_batch(batch), opset=opset, fp16=fp16, simplify=simplify,
                             check=not no_check, provider=provider)
    except ProviderUnavailable as exc:
        raise click.BadParameter(str(exc), param_hint="--provider") from None
    except OutputRefused as exc:
        raise click.BadParameter(str(exc), param_hint="-o") from None
    except ExportFailed as exc:
        raise click.ClickException(f"export failed: {exc}") from None
    simplified = " simplified," if report.simplified else ""
    wrote(report.path, f"{_size(report.size)}, opset {report.opset}, batch {report.batch}, {report.dtype},"
                       f"{simplified} {report.seconds:.1f} s")
    if as_json:
        echo_json(_export_json(report))
    else:
        _print_export(report)


def _export_json(report) -> dict:
    nodes = report.simplified_nodes
    return {"output": str(report.path), "size": report.size, "opset": report.opset, "batch": report.batch,
            "dtype": report.dtype, "seconds": report.seconds,
            "external_data": str(report.data_path) if report.data_path else None, "external_data_size": report.data_size,
            "simplified": {"nodes_before": nodes[0], "nodes_after": nodes[1]} if nodes else None,
            "provider": report.provider, "tolerance": list(report.tolerance) if report.tolerance else None,
            "parity": [{"batch": p.batch, "max_abs": p.max_abs, "max_rel": p.max_rel, "ok": p.ok} for p in report.parity]}


def _print_export(report) -> None:
    from ..onnx_export import ATOL_SCALE

    if report.simplified_nodes:
        before, after = report.simplified_nodes
        click.echo(f"onnxslim: {before} -> {after} graph nodes")
    if report.data_path:
        click.echo(f"weights in external data file {report.data_path} ({_size(report.data_size)}); "
                   f"keep it beside the model")
    if report.provider is None:
        click.echo("not checked (--no-check)")
        return
    rtol, atol = report.tolerance
    click.echo(f"onnx.checker: ok; parity with PyTorch on ONNX Runtime {report.provider} "
               f"(rtol {rtol:g}, atol {atol:g} {ATOL_SCALE}):")
    for p in report.parity:
        click.echo(f"  batch {p.batch}: max abs diff {p.max_abs:.2e}, max rel diff {p.max_rel:.2e}  ok")


@main.command()
@click.argument("file", type=click.Path())
@spec_options
@click.option("--device", type=click.Choice(["cpu", "cuda"]), help="[default: cuda when usable, else cpu]")
@click.option("--batch", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--runtime", "runtimes", default="torch,compile,onnxruntime", show_default=True,
              help="Comma-separated: torch (eager), compile (torch.compile), onnxruntime.")
@click.option("--repeats", type=click.IntRange(min=1), default=20, show_default=True, help="Timed calls per runtime.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed calls first.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="Weights saved by `archc build -o`.")
@click.option("--peak-tflops", type=float, help="The GPU's peak TFLOP/s (for GPUs archc does not know).")
@click.option("--threads", type=click.IntRange(min=1),
              help="Intra-op threads of torch and ONNX Runtime [default: theirs, one per core].")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
def bench(file, spec_kwargs, device, batch, runtimes, repeats, warmup, weights, peak_tflops, threads, as_json):
    """Latency and throughput in torch eager, torch.compile and ONNX Runtime (median of repeats).

    Each runtime is timed in a fresh process of its own, on the same weights and input.
    """
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .. import benchmark, build
    from ..capacity import room_problem
    from ..onnx_export import ExportFailed, load_weights
    from ..pipeline import analyze

    try:
        names = benchmark.parse_runtimes(runtimes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--runtime") from None
    cuda = torch.cuda.is_available()
    device = device or ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        raise click.BadParameter("no usable CUDA device here (torch.cuda.is_available() is False)",
                                 param_hint="--device")
    graph = analyze(file, **spec_kwargs)
    free = torch.cuda.mem_get_info()[0] if device == "cuda" else None
    if problem := room_problem(graph, batch, 2, f"benchmarking, which runs the model at batch {batch},", free):
        raise click.ClickException(problem)
    module = build(file, input_shape=spec_kwargs["input_shape"], seed=0, **spec_kwargs["params"])
    if weights:
        try:
            load_weights(module, weights)
        except ExportFailed as exc:
            raise click.ClickException(str(exc)) from None
    threads = threads or torch.get_num_threads()
    load_at_start = benchmark.load_average()
    progress_console = Console(stderr=True)
    with Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), console=progress_console,
                  transient=True, disable=not progress_console.is_terminal) as progress:
        tasks = {n: progress.add_task(n, total=warmup + repeats) for n in names}
        results = benchmark.bench(module, graph.input_shape, runtimes=names, device=device, batch=batch,
                                  repeats=repeats, warmup=warmup, threads=threads,
                                  step=lambda n: progress.advance(tasks[n]))
    warning = benchmark.busy_warning(load_at_start, benchmark.load_average(), threads)
    peak = peak_tflops * 1e12 if peak_tflops else None
    device_name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    if device == "cuda" and peak is None:
        peak = benchmark.peak_flops(device_name)
    if as_json:
        echo_json(_bench_json(results, graph, device, device_name, peak, repeats, threads, warning))
    else:
        console = Console()
        console.print(_bench_table(results, graph, device, device_name, peak, repeats, threads,
                                   ascii_only=not console.is_terminal))
    if warning:
        click.echo(f"warning: {warning}", err=True)
    if all(r.latency_s is None for r in results):
        raise click.ClickException("every runtime failed")


def _bench_json(results, graph, device, device_name, peak, repeats, threads, warning) -> dict:
    baseline = next((r.latency_s for r in results if r.runtime == "torch" and r.latency_s), None)
    return {"name": graph.name, "device": device, "device_name": device_name, "batch": results[0].batch,
            "repeats": repeats, "threads": threads, "flops_per_sample": 2 * graph.total_macs, "warning": warning,
            "results": [{"runtime": r.runtime, "latency_s": r.latency_s, "throughput": r.throughput,
                         "speed_vs_torch": baseline / r.latency_s if baseline and r.latency_s else None,
                         "peak_fraction": r.flops_fraction(graph.total_macs, peak), "error": r.error}
                        for r in results]}


def _bench_table(results, graph, device, device_name, peak, repeats, threads=None, ascii_only=False):
    from rich import box
    from rich.table import Table

    baseline = next((r.latency_s for r in results if r.runtime == "torch" and r.latency_s), None)
    title = (f"{graph.name} on {device_name}, batch {results[0].batch}, median of {repeats}, "
             f"{2 * graph.total_macs / 1e9:.2f} GFLOP per sample"
             + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else "")
             + ", each runtime in its own process")
    table = Table(title=title, box=box.ASCII if ascii_only else box.HEAVY_HEAD)
    rate = "images/s" if len(graph.input_shape) == 3 else "samples/s"
    for column in ("runtime", "latency (ms)", rate, "speed vs torch"):
        table.add_column(column, justify="left" if column == "runtime" else "right")
    if device == "cuda":
        table.add_column("% of TF32 peak" if peak else "% of peak (unknown GPU: --peak-tflops)", justify="right")
    for r in results:
        if r.latency_s is None:
            table.add_row(r.runtime, f"[red]failed: {r.error}[/red]", "", "", *([""] if device == "cuda" else []))
            continue
        row = [r.runtime, f"{r.latency_s * 1e3:.2f}", f"{r.throughput:,.1f}",
               f"{baseline / r.latency_s:.2f}x" if baseline else "-"]
        if device == "cuda":
            fraction = r.flops_fraction(graph.total_macs, peak)
            row.append(f"{100 * fraction:.1f}%" if fraction is not None else "-")
        table.add_row(*row)
    return table
