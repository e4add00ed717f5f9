"""Fault points: the places where a test stops a run on purpose, to kill it or cut its connection at an
exact step instead of after a guessed delay. This module's one concern.

A fault point does nothing unless ``PIPELINE_FAULT_PAUSE`` names its stage. Then it writes a JSON
object (``stage`` and what the caller says it has done so far) to the file ``PIPELINE_FAULT_MARKER``,
whole (renamed into place), so the test knows the run got there and how far, and sleeps
``PIPELINE_FAULT_PAUSE_SECONDS`` (default 600): long enough to be killed, or a few seconds while the
test takes the database away.

Stages: ``lake_month_<n>`` (pipeline/lib/lake.py: n month files written to the staging folder),
``lake_before_manifest`` (the files renamed into the lake, the manifest not yet written),
``warehouse_before_swap`` (dbt built and tested the building file, not yet renamed over the live one)
and ``warehouse_swapped`` (renamed, the build marker not yet written; pipeline/lib/warehouse.py),
``copy`` (pipeline/lib/publish_copy.py), ``before_go_live`` and ``in_go_live`` (pipeline/lib/publish.py).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipeline.lib.files import write_text_atomic


def fault_point(stage: str, **progress: object) -> None:
    if os.environ.get("PIPELINE_FAULT_PAUSE") != stage:
        return
    marker = os.environ.get("PIPELINE_FAULT_MARKER")
    if marker:
        write_text_atomic(Path(marker), json.dumps({"stage": stage, **progress}, default=str))
    time.sleep(float(os.environ.get("PIPELINE_FAULT_PAUSE_SECONDS", "600")))
