"""Prefect API servers for `synth`: the long-lived one `synth server start` records, and the
temporary one a Prefect run starts for itself when no server is configured.

No Prefect (nor HTTP client) import at module level: `synth server status` and the choice of a
run's mode stay fast; with no server recorded, choosing a mode reads one file and imports nothing.

- The recorded server is `prefect server start` (UI and services) in its own session, its URL and
  pid kept in `$SYNTHPIPE_CONFIG_DIR/prefect-server.json` (default `~/.config/synthpipe/`).
- The temporary server replaces Prefect's own per-process one, which waits on a fixed start-up
  timeout, dies with the process group before the run can record its end, and is stopped by an
  `atexit` hook that runs before Prefect's log and event workers have flushed (their retries held
  the exit 20-70 s). Ours starts in the background at once (the caller imports and loads meanwhile),
  waits on its health endpoint as long as the process lives, runs in its own session so a signal to
  the process group reaches only the run, and exits by itself when the run's process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from core.errors import ServerError
from core.signing import config_dir

RECORD_FILE = "prefect-server.json"
LOG_FILE = "prefect-server.log"
API_URL_ENV = "PREFECT_API_URL"
# Only a server that never answers reaches this: start-up itself is awaited as long as the process
# lives (≈ 10-20 s idle on 2 cores, minutes under load), so a slow machine does not trip it.
HUNG_START_S = 900.0
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class ServerRecord:
    """A server `synth server start` started: where it answers, its process, its log."""

    url: str
    pid: int
    log: str


def record_path() -> Path:
    return config_dir() / RECORD_FILE


def read_record() -> ServerRecord | None:
    try:
        return ServerRecord(**json.loads(record_path().read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def running_server() -> ServerRecord | None:
    """The recorded server if its process is alive and its API answers."""
    record = read_record()
    if record is None or not _alive(record.pid) or not is_healthy(record.url):
        return None
    return record


def configured_api_url() -> str | None:
    """The Prefect API a run reports to: `PREFECT_API_URL`, else the recorded running server."""
    if url := os.environ.get(API_URL_ENV):
        return url
    record = running_server()
    return record.url if record else None


def start_server(host: str = "127.0.0.1", port: int = 4200) -> ServerRecord:
    """Start `prefect server start` detached, wait until it is healthy, record it."""
    if (existing := running_server()) is not None:
        return existing
    url = f"http://{host}:{port}/api"
    if is_healthy(url):
        raise ServerError(
            f"Another Prefect server already answers at {url}: use it with "
            f"`export {API_URL_ENV}={url}`, or start this one with --port on a free port."
        )
    log = config_dir() / LOG_FILE
    log.parent.mkdir(parents=True, exist_ok=True)
    args = ["prefect", "server", "start", "--host", host, "--port", str(port)]
    process = _spawn(args, log, os.environ.copy())
    _wait_healthy(url, process, log)
    record = ServerRecord(url=url, pid=process.pid, log=str(log))
    record_path().write_text(json.dumps(asdict(record)))
    return record


def stop_server() -> ServerRecord | None:
    """Stop the recorded server (its whole session) and forget it; None when none was recorded."""
    record = read_record()
    if record is None:
        return None
    if _alive(record.pid):
        _flush_prefect_workers()  # this process may have reported to it
        _stop_group(record.pid, lambda: not _alive(record.pid))
    record_path().unlink(missing_ok=True)
    return record


class TemporaryServer:
    """A Prefect API server for this process only: `start()` returns at once with `url` known,
    `wait()` blocks until it answers, `stop()` (or leaving the `with` block) flushes Prefect's log
    and event workers to it, then stops it."""

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}/api"
        self._process: subprocess.Popen[bytes] | None = None
        fd, log = tempfile.mkstemp(prefix="synthpipe-prefect-server-", suffix=".log")
        os.close(fd)
        self._log = Path(log)

    def start(self) -> TemporaryServer:
        port = self.url.rsplit(":", 1)[1].removesuffix("/api")
        env = {
            **os.environ,
            # What Prefect's own temporary server sets: no UI, the ephemeral set of services.
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
        }
        args = ["flows.server", "--port", port, "--parent", str(os.getpid())]
        self._process = _spawn(args, self._log, env)
        return self

    def wait(self) -> None:
        if self._process is None:
            raise ServerError("TemporaryServer.wait() before start(): call start() first.")
        _wait_healthy(self.url, self._process, self._log)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            _flush_prefect_workers()
            _stop_group(process.pid, lambda: process.poll() is not None)
        self._log.unlink(missing_ok=True)

    def __enter__(self) -> TemporaryServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _flush_prefect_workers() -> None:
    """Send the logs and events Prefect still queues while the server can take them: left to
    Prefect's exit hook they would retry against a stopped server."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # a signal to the caller's process group is not meant for it
        )


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    started = time.monotonic()
    while not is_healthy(url):
        if process.poll() is not None:
            raise ServerError(
                f"The Prefect server for {url} exited with code {process.returncode} before it "
                f"answered. Its log ({log}) ends:\n{_tail(log)}"
            )
        if time.monotonic() - started > HUNG_START_S:
            _stop_group(process.pid, lambda: process.poll() is not None)
            raise ServerError(
                f"The Prefect server for {url} did not answer in {HUNG_START_S:.0f} s although "
                f"its process ran. Its log ({log}) ends:\n{_tail(log)}"
            )
        time.sleep(0.2)


def _stop_group(pid: int, gone: Callable[[], bool]) -> None:
    """SIGTERM to the server's session (uvicorn's graceful stop), SIGKILL after a grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            if gone():
                return
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _exit_with(parent: int) -> None:
    """Stop this server once the run that started it is gone, however it ended (even SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's graceful shutdown
    time.sleep(STOP_GRACE_S)
    os._exit(1)


def main(argv: list[str] | None = None) -> None:
    """`python -m flows.server --port P --parent PID`: the temporary server's process."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    threading.Thread(target=_exit_with, args=(args.parent,), daemon=True).start()
    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        log_level="error",
        lifespan="on",
    )


if __name__ == "__main__":
    main()
