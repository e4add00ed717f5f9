"""Test hooks that stop a stage at an exact point, so fault tests can kill it there.

Nothing happens unless ``PIPELINE_FAULT_PAUSE`` names the point.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def fault_point(stage: str) -> None:
    """With PIPELINE_FAULT_PAUSE=<stage>, signal arrival and wait (to be killed, or for
    PIPELINE_FAULT_PAUSE_SECONDS while a test cuts the connection).

    The fault tests SIGKILL the publisher at exact points (mid-copy, before go-live, inside the
    go-live transaction); nothing happens unless the variable names this stage.
    """
    if os.environ.get("PIPELINE_FAULT_PAUSE") != stage:
        return
    marker = os.environ.get("PIPELINE_FAULT_MARKER")
    if marker:
        Path(marker).write_text(stage)
    time.sleep(float(os.environ.get("PIPELINE_FAULT_PAUSE_SECONDS", "600")))
