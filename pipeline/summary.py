"""The short summary printed at the end of a run that did work."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from pipeline.lib.files import read_json


def connect_command(postgres: str) -> str:
    """A psql command that works as printed, from any directory and outside the venv, and shows no
    password. ``postgres`` is the published DSN as redacted for messages."""
    if os.environ.get("PIPELINE_PG_DSN"):
        return 'psql "$PIPELINE_PG_DSN"'
    # The embedded server's DSN has no password; a DSN from luigi.cfg loses its password here, so
    # psql asks for it.
    dsn = re.sub(r"\s*password\s*=\s*\*\*\*", "", postgres.replace(":***@", "@")).strip()
    # The shell must pass the DSN as it is: double quotes unless it holds what they would expand.
    return f'psql "{dsn}"' if not re.search(r'["$`\\!]', dsn) else f"psql {shlex.quote(dsn)}"


def print_summary(figures: dict, report: Path) -> None:
    """Print the run's figures (from ``pipeline.report.collect_figures``) to the terminal."""
    rows, stages = figures["rows_per_table"], figures["rows_per_stage"]
    seconds = figures["stage_seconds"]
    rejects = ", ".join(f"{k} {v:,}" for k, v in figures["rejects_by_reason"].items()) or "none"
    lines = [
        "",
        "Online Retail pipeline: done",
        f"  source            {figures['source']}",
        *(
            [f"  warehouse build   {warehouse_build_line(figures['warehouse_build'])}"]
            if "warehouse_build" in figures
            else []
        ),  # fmt: skip
        # What the warehouse holds now, every export's rows (the line above says what this run did).
        f"  source rows held  {stages['source rows']:,}  (lake {stages['lake']:,}, "
        f"rejected at conversion {stages['source rows'] - stages['lake']:,})",
        f"  fct_sales         {stages['fct_sales']:,} lines, {figures['fact_amount']} GBP",
        f"  quarantine        {stages['quarantine']:,} lines, {figures['quarantine_amount']} GBP "
        "(analytics.rejected_invoice_lines)",
        f"  rejects by reason {rejects}",
        *[f"  skipped           {name}: {why}" for name, why in figures.get("skipped", {}).items()],
        *unknown_value_lines(figures.get("unknown_values", [])),
        "  dimensions        " + ", ".join(f"{t} {rows[t]:,}" for t in sorted(rows) if t.startswith("dim_")),
        f"  dbt               {figures['dbt_results']}; dbt-postgres {figures['dbt_postgres_results']}",
        "  stage timings     (this run) " + ", ".join(f"{stage} {s} s" for stage, s in seconds.items()),
        f"  published         version {figures['published_version']}",
        f"  report            {report}",
        f"  lake              {figures['outputs']['lake']}",
        f"  warehouse         {figures['outputs']['warehouse']}",
        f"  PostgreSQL        {figures['outputs']['postgres']}  (schema analytics)",
        f"  connect with      {connect_command(figures['outputs']['postgres'])}",
        "",
    ]
    print("\n".join(lines), file=sys.stderr)


def warehouse_build_line(build: dict) -> str:
    """One line for people: ``incremental (exports changed: 1 added): added x.xlsx; lines loaded ...``."""
    changes = "; ".join(f"{kind} {', '.join(build[kind])}" for kind in ("added", "replaced", "removed")
                        if build.get(kind))  # fmt: skip
    return (
        f"{build['mode']} ({build['reason']})" + (f": {changes}" if changes else "")
        + f"; source rows loaded {build['lines_loaded']:,}, taken out {build['lines_removed']:,}"
    )  # fmt: skip


def unknown_value_lines(unknown: list[dict]) -> list[str]:
    """One line per stock code or country that no seed knows, with its lines, money and seed file."""
    if not unknown:
        return ["  unknown values    none (every stock code and country is in a seed)"]
    lines = [f"  unknown values    {len(unknown)} in the star schema; extend the seed to classify them:"]
    for u in unknown:
        lines.append(
            f"    {u['kind']:<10} {u['value']:<14} {u['lines']:>9,} lines {u['amount']:>14} GBP "
            f"({u['line_percent']} % of lines, {u['money_percent']} % of money) → {u['seed_file']}"
        )
    return lines


def print_no_op_summary(reports_dir: Path, live: tuple[int, str] | None = None) -> None:
    """A run that found everything up to date: say so, with the figures of the last run that did work
    and the version that PostgreSQL's ledger has live (``live``: published and warehouse version)."""
    figures = read_json(reports_dir / "latest.json")
    lines = ["", "Online Retail pipeline: nothing to do (source, lake, warehouse and PostgreSQL are current)"]
    if figures:
        stages = figures["rows_per_stage"]
        lines += [
            f"  source            {figures['source']}",
            f"  fct_sales         {stages['fct_sales']:,} lines, {figures['fact_amount']} GBP; "
            f"quarantine {stages['quarantine']:,}",
            *unknown_value_lines(figures.get("unknown_values", [])),
            f"  published         {_live_line(figures, live)}",
            f"  last report       {reports_dir / 'latest.html'}",
            f"  PostgreSQL        {figures['outputs']['postgres']}  (schema analytics)",
            f"  connect with      {connect_command(figures['outputs']['postgres'])}",
        ]
    print("\n".join([*lines, ""]), file=sys.stderr)


def _live_line(figures: dict, live: tuple[int, str] | None) -> str:
    if live is None:
        return f"version {figures['published_version']} (this data directory's last publish)"
    if live[0] == figures["published_version"]:
        return f"version {live[0]} is live (published {figures['generated_at']})"
    # Another data directory published the same exports first (versions are content addressed).
    return (
        f"version {live[0]} is live, with this warehouse's content (this data directory last "
        f"published version {figures['published_version']})"
    )
