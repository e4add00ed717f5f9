"""The run report: the run's figures as JSON and a static HTML page with charts, under data/reports/.

The page works offline: its data and its chart code are inline, nothing is fetched from the network.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path

from pipeline.config import Settings
from pipeline.lib.files import write_text_atomic
from pipeline.lib.markers import BuildMarker, PublishedMarker, VerifiedMarker
from pipeline.lib.postgres import redact
from pipeline.summary import warehouse_build_line


def collect_figures(settings: Settings) -> dict:
    import duckdb

    build = BuildMarker.read(settings.build_marker)
    published = PublishedMarker.read(settings.published_marker)
    verified = VerifiedMarker.read(settings.verified_marker)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        monthly = con.execute(
            "select year_month, sum(net_revenue_amount)::double from rpt_monthly_revenue_by_country "
            "group by year_month order by year_month"
        ).fetchall()
        rejects = con.execute(
            "select reason_code, count(*) from rejected_invoice_lines group by 1 order by 2 desc"
        ).fetchall()
    rows = published.rows
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source": build.source,
        "source_sha256": build.source_sha256,
        "warehouse_version": build.warehouse_version,
        "published_version": published.published_version,
        "rows_per_stage": {
            "source rows": build.source_rows,
            "lake": build.lake_rows,
            "fct_sales": rows.get("fct_sales", 0),
            "quarantine": rows.get("rejected_invoice_lines", 0),
        },
        "rows_per_table": rows,
        # What this run's warehouse build did (the rows above are what the warehouse holds).
        "warehouse_build": warehouse_build(build),
        "rejects_by_reason": dict(rejects),
        # Files of a landing folder and sheets of a workbook that hold no lines, with the reason.
        "skipped": {**build.skipped_files, **build.skipped_sheets},
        # Stock codes and countries no seed knows: in the star schema, listed until a seed knows them.
        "unknown_values": build.unknown_values,
        "stage_seconds": {
            "convert": build.convert_seconds,
            "dbt build": build.dbt.get("seconds", 0),
            "publish": published.seconds.get("total", 0),
            "dbt-postgres": verified.seconds,
        },
        "monthly_net_revenue": {month: round(value, 2) for month, value in monthly},
        "fact_amount": published.amounts.get("fct_sales.line_amount"),
        # The money of the quarantined lines whose amount is known (repeats, and untyped rows whose
        # quantity and price typed): fact + quarantine = the source's money.
        "quarantine_amount": published.amounts.get("rejected_invoice_lines.line_amount"),
        "dbt_results": build.dbt.get("dbt_results", {}),
        "dbt_postgres_results": verified.dbt_results,
        "outputs": {
            "lake": str(settings.lake_location),
            "warehouse": str(settings.warehouse_path),
            "postgres": redact(published.dsn),
        },
    }


def warehouse_build(build: BuildMarker) -> dict:
    """The mode of the last warehouse build, why, its change set and the source rows it loaded and
    took out: what this run did, beside the history's totals."""
    return {
        "mode": build.mode or "full",
        "reason": build.mode_reason,
        "added": build.added,
        "replaced": build.replaced,
        "removed": build.removed,
        "lines_loaded": build.lines_loaded,
        "lines_removed": build.lines_removed,
    }


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Online Retail pipeline: run report</title>
<style>
 body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }}
 h1 {{ font-size: 20px; }} h2 {{ font-size: 15px; margin: 0 0 6px; }}
 .grid {{ display: grid; grid-template-columns: repeat(2, minmax(380px, 1fr)); gap: 18px; }}
 .card {{ border: 1px solid #ddd; border-radius: 6px; padding: 12px; }}
 table {{ border-collapse: collapse; }} td {{ padding: 2px 10px 2px 0; }}
 .bar {{ fill: #3b6ea8; }} .label {{ font-size: 10px; fill: #444; }} .value {{ font-size: 10px; fill: #111; }}
</style></head>
<body>
<h1>Online Retail pipeline: run report</h1>
<table>
 <tr><td>generated</td><td>{generated_at}</td></tr>
 <tr><td>source</td><td>{source}</td></tr>
 <tr><td>warehouse build</td><td>{warehouse_build}</td></tr>
 <tr><td>published version</td><td>{published_version} (warehouse {warehouse_version})</td></tr>
 <tr><td>fct_sales amount</td><td>{fact_amount} GBP</td></tr>
 <tr><td>quarantine amount</td><td>{quarantine_amount} GBP</td></tr>
 <tr><td>PostgreSQL</td><td>{postgres}</td></tr>
</table>
<div class="grid">
 <div class="card"><h2>Monthly net revenue (GBP)</h2><div data-chart="monthly_net_revenue"></div></div>
 <div class="card"><h2>Rejected lines by reason</h2><div data-chart="rejects_by_reason"></div></div>
 <div class="card"><h2>Rows per stage</h2><div data-chart="rows_per_stage"></div></div>
 <div class="card"><h2>Stage timings (s)</h2><div data-chart="stage_seconds"></div></div>
</div>
<h2>Stock codes and countries no seed knows</h2>
{unknown_table}
<script id="figures" type="application/json">{figures_json}</script>
<script>
(function () {{
  const figures = JSON.parse(document.getElementById("figures").textContent);
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {{
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }}
  function barChart(host, data) {{
    const entries = Object.entries(data);
    const width = 440, height = 230, left = 8, bottom = 58, top = 14;
    const svg = el("svg", {{width, height, "class": "chart", "data-bars": entries.length}});
    if (!entries.length) {{
      svg.appendChild(el("text", {{x: 10, y: 30, "class": "label"}}, "none"));
      host.appendChild(svg); return;
    }}
    const max = Math.max(...entries.map(([, v]) => Math.abs(v))) || 1;
    const step = (width - left) / entries.length;
    entries.forEach(([label, value], i) => {{
      const h = Math.abs(value) / max * (height - bottom - top);
      const x = left + i * step + step * 0.1;
      const y = height - bottom - h;
      svg.appendChild(el("rect", {{"class": "bar", x, y, width: step * 0.8, height: h}}));
      svg.appendChild(el("text", {{"class": "label", x: x, y: height - bottom + 12,
        transform: `rotate(35 ${{x}} ${{height - bottom + 12}})`}}, label));
      if (entries.length <= 8) svg.appendChild(el("text", {{"class": "value", x, y: height - bottom - h - 3}},
        value.toLocaleString("en-GB")));
    }});
    host.appendChild(svg);
  }}
  document.querySelectorAll("[data-chart]").forEach(host => barChart(host, figures[host.dataset.chart]));
  document.body.setAttribute("data-charts-drawn", "true");
}})();
</script>
</body></html>
"""


def unknown_values_table(unknown: list[dict]) -> str:
    """An HTML table of the unknown stock codes and countries, or a sentence when there are none."""
    if not unknown:
        return '<p id="unknown-values">none: every stock code and country is in a seed</p>'
    head = "<tr><th>kind</th><th>value</th><th>lines</th><th>GBP</th><th>% lines</th><th>% money</th>"
    head += "<th>seed to extend</th></tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(u[k]))}</td>" for k in
                         ("kind", "value", "lines", "amount", "line_percent", "money_percent", "seed_file"))
        + "</tr>"
        for u in unknown
    )  # fmt: skip
    return f'<table id="unknown-values">{head}{body}</table>'


def write_report(settings: Settings, figures: dict) -> Path:
    """Write ``run-<time>.json`` and ``run-<time>.html`` plus ``latest.*`` copies; return the HTML path."""
    reports = settings.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    stamp = figures["generated_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    payload = json.dumps(figures, indent=2)  # insertion order: stages stay in pipeline order
    page = PAGE.format(
        figures_json=payload.replace("</", "<\\/"),
        **{
            k: html.escape(str(figures[k]))
            for k in (
                "generated_at",
                "source",
                "published_version",
                "warehouse_version",
                "fact_amount",
                "quarantine_amount",
            )
        },  # fmt: skip
        postgres=html.escape(figures["outputs"]["postgres"]),
        warehouse_build=html.escape(warehouse_build_line(figures["warehouse_build"])),
        unknown_table=unknown_values_table(figures.get("unknown_values", [])),
    )
    for name, text in ((f"run-{stamp}.json", payload), (f"run-{stamp}.html", page),
                       ("latest.json", payload), ("latest.html", page)):  # fmt: skip
        write_text_atomic(reports / name, text)
    return reports / f"run-{stamp}.html"
