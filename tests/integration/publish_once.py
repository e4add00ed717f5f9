"""Run one publish in its own process, so tests can SIGKILL it or cut its connection.

python publish_once.py '{"warehouse": ..., "manifest": ..., "dsn": ..., "version": ...}'
"""

import json
import sys
from pathlib import Path

from pipeline.lib.postgres import PostgresUnavailable
from pipeline.lib.publish import PublishError, PublishRequest, publish
from pipeline.lib.transfer import TransferError

args = json.loads(sys.argv[1])
try:
    publish(
        PublishRequest(
            warehouse_path=Path(args["warehouse"]),
            manifest_path=Path(args["manifest"]),
            dsn=args["dsn"],
            warehouse_version=args["version"],
            run_id="test",
            source="test",
            source_sha256=[],
            rejects_by_reason={},
            stage_seconds={},
        )
    )
except (PublishError, TransferError, PostgresUnavailable) as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(1)
