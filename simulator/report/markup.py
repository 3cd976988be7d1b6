"""HTML building blocks of the report: the style sheet, escaping, links, number formats and
tables.
"""

from __future__ import annotations

import html
import re
from typing import Any

from simplan.formatting import price, seconds, tokens, usd
from simplan.formatting import share as _pct

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 62rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ccc; }
.meta { color: #555; font-size: 0.85rem; }
.question, .answer { font-size: 1.05rem; padding: 0.6rem 0.9rem; border-left: 4px solid #0072B2;
                     background: #f3f7fb; }
.answer { border-left-color: #009E73; background: #f1f8f5; font-weight: 600; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.src { font-size: 0.8rem; overflow-wrap: anywhere; }
table.wide { width: 100%; table-layout: fixed; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.85rem; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
"""


# --- formatting ---------------------------------------------------------------------------


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


_URL = re.compile(r"https?://[^\s<>\"']+")


def _linked(text: str) -> str:
    """Escape ``text`` and turn URLs into links."""
    out, pos = [], 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(").,;:")
        out.append(_e(text[pos : m.start()]))
        out.append(f'<a href="{_e(url)}">{_e(url)}</a>')
        pos = m.start() + len(url)
    out.append(_e(text[pos:]))
    return "".join(out)


def _table(headers: list[str], rows: list[list[Any]], num: set[int] | None = None) -> str:
    num = num if num is not None else set(range(1, len(headers)))
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            if isinstance(v, _Raw):
                cells.append(f'<td class="src">{v.html}</td>')
            else:
                cls = ' class="num"' if i in num else ""
                cells.append(f"<td{cls}>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw:
    """Already-escaped HTML for a table cell."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


__all__ = ["_pct", "price", "seconds", "tokens", "usd"]
