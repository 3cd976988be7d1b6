"""Predict published benchmark measurements and report the error (`simplan validate`).

Each row of a calibration CSV (``published_measurements.csv``, 2023-2024 measurements,
and ``published_measurements_2026.csv``; sources in the ``*_SOURCES.md`` files beside
them) is read into catalog ids (:mod:`.rows`), predicted the way its source measured it
(:mod:`.predict`), and the error is reported by source, metric, model family,
architecture, GPU family and engine (:mod:`.errors`).
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

from simplan.errors import Problem, SimplanError
from simplan.validate.bands import band_coverage, fit_bands
from simplan.validate.errors import (
    GROUPS,
    error_by,
    error_table,
    summarize_errors,
)
from simplan.validate.output import plot_predicted_vs_measured, rows_as_dicts, write_rows_csv
from simplan.validate.predict import SimCache, predict_row
from simplan.validate.rows import Row

__all__ = [
    "GROUPS",
    "Row",
    "band_coverage",
    "default_csv",
    "default_csvs",
    "error_by",
    "error_table",
    "fit_bands",
    "plot_predicted_vs_measured",
    "predict_row",
    "read_rows",
    "rows_as_dicts",
    "summarize_errors",
    "validate_rows",
    "write_rows_csv",
]

#: The calibration files shipped with simplan, oldest first.
CSV_NAMES = ("published_measurements.csv", "published_measurements_2026.csv")


def _shipped(name: str) -> Path:
    return Path(str(resources.files("simplan.catalog").joinpath(name)))


def default_csv() -> Path:
    """The 2023-2024 calibration file (the one the catalog's constants were fitted on)."""
    return _shipped(CSV_NAMES[0])


def default_csvs() -> list[Path]:
    """Every calibration file shipped with simplan."""
    return [_shipped(n) for n in CSV_NAMES]


#: Columns every calibration CSV states; the others (params_b, precision_kv, n_gpus, tp,
#: notes, rate_per_s, engine, url) read as unstated when absent.
REQUIRED_COLUMNS = (
    "source_id",
    "model",
    "gpu",
    "precision_weights",
    "batch_or_concurrency",
    "input_len",
    "output_len",
    "metric",
    "value",
    "unit",
)
OPTIONAL_COLUMNS = ("params_b", "precision_kv", "n_gpus", "tp", "notes", "rate_per_s", "engine")


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a calibration CSV, every column present (unstated ones empty)."""
    try:
        # utf-8-sig: a spreadsheet's export starts with a byte-order mark
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [c.strip() for c in reader.fieldnames or []]
            rows = list(reader)
    except FileNotFoundError:
        raise SimplanError("no such calibration CSV", source=str(path)) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SimplanError(f"not a readable CSV file: {exc}", source=str(path)) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise SimplanError(
            "the calibration CSV lacks columns",
            [
                Problem(
                    "header",
                    f"missing {', '.join(missing)}; a calibration CSV has the columns "
                    f"{', '.join(REQUIRED_COLUMNS)} (and optionally {', '.join(OPTIONAL_COLUMNS)})",
                )
            ],
            source=str(path),
        )
    blank = dict.fromkeys((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS), "")
    return [blank | {k.strip(): (v or "").strip() for k, v in r.items() if k} for r in rows]


def validate_rows(path: Path | list[Path] | None = None, *, max_load: bool = True) -> list[Row]:
    """Predict every row of one or more calibration CSVs (default: every shipped one).

    Rows keep their line number in their own file; rows that report different metrics of
    one simulated run share the run.
    """
    paths = default_csvs() if path is None else path if isinstance(path, list) else [path]
    cache: SimCache = {}
    rows: list[Row] = []
    for p in paths:
        for i, raw in enumerate(read_rows(p)):
            rows.append(predict_row(raw, i + 2, max_load=max_load, cache=cache))
    return rows
