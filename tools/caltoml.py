"""Rewrite one table of simulator/catalog/calibration.toml and keep every other line.

The fitting tools each own some tables of that file. A table's body is its run of
``key = value`` lines: it ends at a blank line, a comment or the next header, so a
rewrite never swallows the comment or tables that follow it.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

CAL_FILE = Path(__file__).resolve().parents[1] / "simulator" / "catalog" / "calibration.toml"


def _table(header: str) -> re.Pattern[str]:
    return re.compile(rf"^\[{header}\]\n(?:[^\[#\n].*\n?)*", re.M)


def replace_table(text: str, header: str, table: str) -> str:
    """``text`` with the table ``[header]`` (a regex for the header) replaced by ``table``,
    appended at the end when absent."""
    pattern = _table(header)
    if pattern.search(text):
        return pattern.sub(lambda _: table, text, count=1)
    return text.rstrip() + "\n\n" + table


def drop_tables(text: str, header: str) -> str:
    """``text`` without every table whose header matches the regex ``header``."""
    return re.sub(r"\n{3,}", "\n\n", _table(header).sub("", text))


def write_fit(
    header: str, values: dict[str, float], n_rows: int, median: float, rows: str, tool: str
) -> None:
    """Write the table ``[header]`` of a fit: its ``values``, how many rows it was fitted
    on (described by ``rows``, e.g. "every MoE row") and their median |error|, the tool
    and today's date."""
    table = (
        f"[{header}]\n"
        + "".join(f"{k} = {v:.4g}\n" for k, v in values.items())
        + f"fit_rows = {n_rows}\n"
        f"fit_median_abs_error = {median:.4f}\n"
        f'source = "{rows} of published_measurements*.csv, fitted by {tool}"\n'
        f'as_of = "{datetime.date.today().isoformat()}"\n'
    )
    text = replace_table(CAL_FILE.read_text(encoding="utf-8"), re.escape(header), table)
    CAL_FILE.write_text(text, encoding="utf-8")
    print(f"wrote [{header}] to {CAL_FILE}")
