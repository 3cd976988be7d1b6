"""Fit the model's stated 80% bands from its error on the published measurements.

Predicts every row of both calibration files (as ``simplan validate`` does) and writes
the 10th and 90th percentile of the signed error by metric family and regime
(:mod:`simplan.validate.bands`) to ``calibration.toml`` as ``[error_bands.<family>]``
tables; prints the coverage on the fitted rows and leaving each source out.

Usage: python tools/fit_error_bands.py [--write]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re

from caltoml import CAL_FILE, drop_tables
from simplan.validate import band_coverage, default_csvs, fit_bands, validate_rows


def tables(bands: dict[str, dict]) -> str:
    """The [error_bands.*] tables of ``bands``."""
    today = datetime.date.today().isoformat()
    out = [
        "# The stated 80% bands: signed error predicted/measured - 1 (in time for latency\n"
        "# families), 10th and 90th percentile, by metric family and regime. Written by\n"
        "# tools/fit_error_bands.py from every predicted row of published_measurements*.csv.\n"
    ]
    for family, band in bands.items():
        out.append(
            f"[error_bands.{family}]\np10 = {band['p10']}\np90 = {band['p90']}\n"
            f"rows = {band['rows']}\n"
            f'source = "published_measurements*.csv, tools/fit_error_bands.py"\n'
            f'as_of = "{today}"\n'
        )
        for regime, sub in band.items():
            if isinstance(sub, dict):
                out.append(
                    f"[error_bands.{family}.{regime}]\np10 = {sub['p10']}\np90 = {sub['p90']}\n"
                    f"rows = {sub['rows']}\n"
                )
    return "\n".join(out)


def write(bands: dict[str, dict]) -> None:
    text = CAL_FILE.read_text(encoding="utf-8")
    # drop the old tables (and their comment), keep everything else
    text = re.sub(r"# The stated 80% bands:.*?\n(?=\[error_bands)", "", text, flags=re.S)
    text = drop_tables(text, r"error_bands\.[^\]]*")
    CAL_FILE.write_text(text.rstrip() + "\n\n" + tables(bands), encoding="utf-8")
    print(f"wrote [error_bands] to {CAL_FILE}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = validate_rows(default_csvs(), max_load=True)
    bands = fit_bands(rows)
    cover = band_coverage(rows, bands)
    print(
        json.dumps(
            {k: cover[k] for k in ("bands", "coverage", "held_out_coverage", "count")}, indent=1
        )
    )
    if args.write:
        write(bands)


if __name__ == "__main__":
    main()
