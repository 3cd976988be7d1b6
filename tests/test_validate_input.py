"""`simplan validate --csv` on a file it did not ship: bad input is named, never a
traceback, and a bad row is skipped with its reason while the others are predicted."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner
from simplan.cli import main
from simplan.validate import validate_rows

GOOD = {
    "source_id": "MINE",
    "model": "Llama-3.1-8B-Instruct",
    "gpu": "H100 SXM 80GB",
    "precision_weights": "bf16",
    "batch_or_concurrency": "1",
    "input_len": "512",
    "output_len": "64",
    "metric": "output_throughput_total",
    "value": "1,234.5",
    "unit": "tokens/s",
}


def _write(path: Path, rows: list[dict[str, str]], bom: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        w = csv.DictWriter(fh, list(dict.fromkeys(k for r in rows for k in r)), restval="")
        w.writeheader()
        w.writerows(rows)
    return path


def test_a_csv_without_the_optional_columns_is_read(tmp_path: Path) -> None:
    # a spreadsheet's export: byte-order mark, thousands separators, "TP2" in tp
    path = _write(
        tmp_path / "mine.csv", [GOOD, GOOD | {"tp": "TP2", "n_gpus": "2 (NVLink)"}], bom=True
    )
    one, two = validate_rows(path)
    assert one.measured == 1234.5 and one.predicted is not None
    assert two.predicted is not None and "tp=2" in two.config


def test_bad_values_skip_their_row_with_the_reason(tmp_path: Path) -> None:
    rows = [
        GOOD | {"value": "n/a"},
        GOOD
        | {
            "batch_or_concurrency": "poisson",
            "rate_per_s": "five",
            "metric": "ttft_p50",
            "unit": "ms",
        },
        GOOD,
    ]
    bad_value, bad_rate, good = validate_rows(_write(tmp_path / "mine.csv", rows))
    assert bad_value.skipped == "value 'n/a' is not a number"
    assert bad_rate.skipped == "rate_per_s 'five' is not a positive number"
    assert good.skipped is None and good.predicted is not None


def test_missing_columns_are_named_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("model,value\nLlama-3.1-8B,1\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["validate", "--csv", str(path), "-o", str(out)])
    assert result.exit_code == 2
    assert "short.csv" in result.output and "missing source_id, gpu" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing half-written


def test_a_file_whose_rows_fill_some_panels_plots_without_warnings(tmp_path: Path) -> None:
    import warnings

    from simplan import api

    rows = [GOOD, GOOD | {"metric": "ttft_p50", "value": "n/a", "unit": "ms"}]
    path = _write(tmp_path / "mine.csv", rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        api.validate(str(path), output_dir=str(tmp_path / "out"))
    assert (tmp_path / "out" / "predicted_vs_measured.png").stat().st_size > 0
