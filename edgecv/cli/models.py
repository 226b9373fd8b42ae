"""`edgecv models [PATTERN]`: the registered builders with task, input size, params, MACs."""
from __future__ import annotations

import click

from edgecv.errors import ModelError

COLUMNS = ("name", "task", "input", "params", "MACs")


def summary_rows(pattern: str = "*") -> list[tuple[str, ...]]:
    """One row of display strings per registered model matching `pattern`."""
    from edgecv.models import list_models, model_summary
    from edgecv.registry import suggest

    names = list_models(pattern)
    if not names:
        raise ModelError(f"no registered model matches {pattern!r}"
                         f"{suggest(pattern, list_models())}")
    rows = []
    for name in names:
        s = model_summary(name)
        h, w, c = s["input_shape"]
        rows.append((name, s["task"], f"{h}x{w}x{c}", f"{s['params']:,}", f"{s['macs'] / 1e6:,.1f}M"))
    return rows


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    right = {3, 4}  # numbers align right

    def line(row):
        return "  ".join(str(v).rjust(w) if i in right else str(v).ljust(w)
                         for i, (v, w) in enumerate(zip(row, widths))).rstrip()

    return "\n".join([line(COLUMNS), line(["-" * w for w in widths]), *map(line, rows)])


@click.command("models")
@click.argument("pattern", required=False, default="*")
def models_command(pattern: str) -> None:
    """List registered models matching PATTERN (shell-style, e.g. 'efficientnet_b*')
    with task, default input size, parameters and multiply-accumulates."""
    click.echo(format_table(summary_rows(pattern)))
