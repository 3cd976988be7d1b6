"""The `simplan` command line. Each command is a thin wrapper over a function in simplan.api."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from simplan import __version__, api
from simplan.catalog_view import KINDS, table_columns
from simplan.errors import SimplanError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USAGE = 2


def _user_errors(func: F) -> F:
    """Turn a SimplanError into a clear message on stderr and exit status 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SimplanError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)

    return wrapper  # type: ignore[return-value]


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=max(100, _term_width()))


def _term_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 40)).columns


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "–".join(_fmt(v) for v in value)
    return "" if value is None else str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="simplan")
def main() -> None:
    """simplan: plan GPU fleets for LLM inference and compare them with API prices."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@_user_errors
def check(file: str) -> None:
    """Validate scenario FILE without running it."""
    scenario = api.check(file)
    model = scenario.model.name or "inline architecture"
    click.echo(
        f"{file}: ok ({model}, {scenario.model.weights} weights on "
        f"{scenario.hardware.replicas}x {scenario.hardware.gpu} "
        f"tp={scenario.hardware.tp} pp={scenario.hardware.pp}; "
        f"{len(scenario.sweep)} sweep axes)"
    )


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor validation)."""
    click.echo(api.to_json(api.schema()))


@main.command("catalog")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output with every field.")
@_user_errors
def catalog_cmd(kind: str, as_json: bool) -> None:
    """Show a catalog: gpus, models, quantization or apis (every entry has a source and date)."""
    rows = api.catalog(kind)
    if as_json:
        click.echo(api.to_json(rows))
        return
    from rich.table import Table

    cols = table_columns(kind)
    table = Table(title=f"simplan catalog {kind} ({len(rows)} entries; --json for sources)")
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_fmt(r.get(c)) for c in cols))
    _console().print(table)


if __name__ == "__main__":  # pragma: no cover
    main()


@main.command()
@click.option("--model", required=True, help="Model catalog id.")
@click.option("--gpu", required=True, help="GPU catalog id.")
@click.option("--tp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--weights", default="fp16", show_default=True, help="Weight scheme id.")
@click.option("--kv-cache", default="fp16", show_default=True, help="KV-cache dtype id.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--input-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--output-tokens", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--gpu-memory-utilization", type=click.FloatRange(0, 1, min_open=True),
              default=0.90, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_user_errors
def estimate(as_json: bool, **kwargs: Any) -> None:
    """Static-batch estimate: BATCH requests prefilled together, then decoded together."""
    result = api.estimate(**kwargs)
    if as_json:
        click.echo(api.to_json(result))
        if not result["fits"]:
            sys.exit(1)
        return
    from rich.table import Table

    r = result
    title = (f"{r['model']} ({r['weights']} weights, {r['kv_cache']} KV) on "
             f"{r['num_gpus']}x {r['gpu']} (tp={r['tp']}, pp={r['pp']}); batch {r['batch']}, "
             f"{r['input_tokens']} in / {r['output_tokens']} out")
    table = Table(title=title, show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("weights per GPU", f"{r['weights_gib_per_gpu']:.2f} GiB"),
        ("activation + fixed reserve per GPU", f"{r['reserve_gib_per_gpu']:.2f} GiB"),
        ("memory budget per GPU", f"{r['budget_gib_per_gpu']:.2f} GiB"),
        ("KV cache capacity", f"{r['kv_cache_capacity_tokens']:,} tokens"),
        ("largest batch at these lengths", f"{r['max_batch']:,}"),
    ]
    if r["fits"]:
        rows += [
            ("time to first token", f"{r['ttft_s'] * 1e3:.1f} ms"),
            ("time per output token", f"{r['tpot_s'] * 1e3:.2f} ms"),
            ("end to end", f"{r['e2e_s']:.2f} s"),
            ("output throughput", f"{r['output_tokens_per_s']:,.0f} tokens/s"),
            ("per-request decode speed", f"{r['decode_tokens_per_s_per_request'] or 0:,.1f} tokens/s"),
        ]
    for name, value in rows:
        table.add_row(name, value)
    console = _console()
    console.print(table)
    for note in r["notes"]:
        console.print(f"note: {note}")
    if r["fits"]:
        console.print(f"verdict: {r['bound']}: {r['bound_reason']}")
    else:
        console.print(f"verdict: does not fit: {r['reason']}")
        sys.exit(1)
