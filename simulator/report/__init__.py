"""One self-contained HTML report of a run or a sweep.

The report states the scenario's question, answers it in one sentence, shows the
summary table and the plots (embedded as base64 PNG data URIs: no external files, CSS
or scripts), lists the assumptions (every catalog entry used, with its source and date;
the efficiency fit; the calibration error) and what could not work.

:mod:`~simplan.report.markup` holds the HTML building blocks,
:mod:`~simplan.report.answer` the one-sentence answers, :mod:`~simplan.report.sections`
the tables, assumptions, notes and figures, :mod:`~simplan.report.build` the page.
"""

from simplan.report.answer import cheapest_point, run_answer, sweep_answer
from simplan.report.build import build_report, write_report
from simplan.report.markup import price, seconds, tokens, usd

__all__ = [
    "build_report",
    "cheapest_point",
    "price",
    "run_answer",
    "seconds",
    "sweep_answer",
    "tokens",
    "usd",
    "write_report",
]
