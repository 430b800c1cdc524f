"""Prefect defaults for running offline on small machines; set before prefect is imported.

Every value is a default only: an environment variable the user set wins. Point Synthpipe at a
Prefect server by setting `PREFECT_API_URL` (e.g. http://127.0.0.1:4200/api) or with `synth server
start`; without one `synth run` runs locally or on its own temporary server (`flows/launch.py`,
`flows/server.py`). A flow called from Python with no server falls back to Prefect's embedded
mode (a temporary server with a SQLite database in PREFECT_HOME), which the timeout below is for.
"""

from __future__ import annotations

import os

DEFAULTS = {
    # The embedded server needs ~10-20 s to start on 2 cores; Prefect's 20 s default timed out.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
}


def apply_defaults() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
