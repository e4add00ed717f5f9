"""The short summary printed at the end of a run that did work."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.config import Settings
from pipeline.lib.olap import redact


def print_summary(settings: Settings, report: Path) -> None:
    build = json.loads((settings.warehouse_dir / "retail.build.json").read_text())
    published = json.loads((settings.warehouse_dir / "retail.published.json").read_text())
    verified = json.loads((settings.warehouse_dir / "retail.verified.json").read_text())
    rows = published["rows"]
    lines = [
        "",
        "Online Retail pipeline: done",
        f"  source            {build['source']}",
        f"  source rows       {build['source_rows']:,}  (lake {build['lake_rows']:,}, "
        f"rejected at conversion {build['source_rows'] - build['lake_rows']:,})",
        f"  fct_sales         {rows.get('fct_sales', 0):,} lines, "
        f"{published['amounts'].get('fct_sales.line_amount', '?')} GBP",
        f"  quarantine        {rows.get('rejected_invoice_lines', 0):,} lines "
        "(analytics.rejected_invoice_lines)",
        "  rejects by reason "
        + (", ".join(f"{k} {v:,}" for k, v in _rejects_by_reason(build, rows).items()) or "none"),
        "  dimensions        " + ", ".join(f"{t} {rows[t]:,}" for t in sorted(rows) if t.startswith("dim_")),
        f"  dbt build         {build['dbt'].get('seconds', '?')} s, {build['dbt'].get('dbt_results')}",
        f"  publish           version {published['published_version']} in "
        f"{published['seconds'].get('total', '?')} s",
        f"  dbt-postgres      {verified.get('seconds', '?')} s, {verified.get('dbt_results')}",
        f"  stage timings     convert {build.get('convert_seconds', '?')} s, dbt build "
        f"{build['dbt'].get('seconds', '?')} s, publish {published['seconds'].get('total', '?')} s, "
        f"dbt-postgres {verified.get('seconds', '?')} s",
        f"  report            {report}",
        f"  lake              {settings.lake_dir}",
        f"  warehouse         {settings.warehouse_path}",
        f"  PostgreSQL        {redact(published['dsn'])}  (schema analytics)",
        '  connect with      psql "$(python -m pipeline dsn)"',
        "",
    ]
    print("\n".join(lines), file=sys.stderr)


def _rejects_by_reason(build: dict, rows: dict) -> dict[str, int]:
    """Conversion rejects by reason, plus the exact duplicates dbt kept out of fct_sales."""
    reasons = dict(build.get("conversion_rejects_by_reason", {}))
    duplicates = rows.get("rejected_invoice_lines", 0) - sum(reasons.values())
    if duplicates:
        reasons["exact_duplicate"] = duplicates
    return reasons
