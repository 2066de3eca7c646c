"""LocalStack's KMS as a process: started from the virtualenv
`scripts/setup.sh` makes (`COFFER_LOCALSTACK_PYTHON`), on a free port of
127.0.0.1, with its files in a folder of the caller's; used by the
managed-key tests (`conftest.py`) and `bench/managed_keys.py`."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import time

import requests


def localstack_python() -> pathlib.Path:
    return pathlib.Path(os.environ.get("COFFER_LOCALSTACK_PYTHON") or
                        pathlib.Path.home() / ".cache" / "coffer" / "localstack-venv" / "bin" / "python")


class LocalStack:
    """A started LocalStack: `endpoint`, test credentials, `stop()`."""

    region = "us-east-1"
    access_key = "test"
    secret_key = "test"

    def __init__(self, root: pathlib.Path, timeout: float = 90):
        python = localstack_python()
        if not python.is_file():
            raise RuntimeError(f"LocalStack's Python {python} is missing (scripts/setup.sh makes it)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = dict(os.environ, GATEWAY_SERVER="hypercorn", SERVICES="kms", DNS_ADDRESS="0",
                   GATEWAY_LISTEN=f"127.0.0.1:{port}", FILESYSTEM_ROOT=str(root),
                   SKIP_SSL_CERT_DOWNLOAD="1", DISABLE_EVENTS="1")
        self.log = root / "localstack.log"
        self.proc = subprocess.Popen([str(python), "-m", "localstack.runtime.main"], env=env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT, cwd=root)
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"LocalStack exited: {self.log.read_text()[-3000:]}")
            try:
                health = requests.get(f"{self.endpoint}/_localstack/health", timeout=2).json()
                if health.get("services", {}).get("kms") in ("available", "running"):
                    return
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"LocalStack did not start in {timeout} s")
            time.sleep(0.3)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
