"""The short summary printed at the end of a run that did work."""

from __future__ import annotations

import json
import sys

from pipeline.config import Settings
from pipeline.lib.olap import redact


def print_summary(settings: Settings) -> None:
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
        "  dimensions        " + ", ".join(f"{t} {rows[t]:,}" for t in sorted(rows) if t.startswith("dim_")),
        f"  dbt build         {build['dbt'].get('seconds', '?')} s, {build['dbt'].get('dbt_results')}",
        f"  publish           version {published['published_version']} in "
        f"{published['seconds'].get('total', '?')} s",
        f"  dbt-postgres      {verified.get('seconds', '?')} s, {verified.get('dbt_results')}",
        f"  lake              {settings.lake_dir}",
        f"  warehouse         {settings.warehouse_path}",
        f"  PostgreSQL        {redact(published['dsn'])}  (schema analytics)",
        '  connect with      psql "$(python -m pipeline dsn)"',
        "",
    ]
    print("\n".join(lines), file=sys.stderr)
