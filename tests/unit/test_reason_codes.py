"""The conversion's reason codes have one home (pipeline/lib/rules.py); the dbt test that accepts the
quarantine's codes must list the same ones, or a new reason would fail every build that meets it."""

from __future__ import annotations

import yaml

from pipeline.config import WAREHOUSE_PROJECT_DIR
from pipeline.lib.rules import REJECT_REASONS

QUALITY = WAREHOUSE_PROJECT_DIR / "models" / "quality" / "_quality__models.yml"


def test_quarantine_accepts_every_conversion_reason():
    model = next(
        m for m in yaml.safe_load(QUALITY.read_text())["models"] if m["name"] == "rejected_invoice_lines"
    )
    checks = next(t["checks"]["arguments"] for t in model["data_tests"] if "checks" in t)
    accepted = checks["accepted_values"]["reason_code"]
    assert set(REJECT_REASONS) <= set(accepted)
    assert set(accepted) - set(REJECT_REASONS) <= {"exact_duplicate", "overlapping_export_duplicate"}
