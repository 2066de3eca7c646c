"""Fixtures: a real `coffer server --dev` on a free port of 127.0.0.1.

The binary is $COFFER_BIN, or target/debug/coffer (built by `cargo test
--workspace` / `cargo build -p coffer-host`). Each test module gets its own
server with its own temporary plugin directory; tests inside a module use
distinct mount paths.
"""

import os
import pathlib
import queue
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
ROOT_TOKEN = "pytest-root-token"


def coffer_bin() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("COFFER_BIN", REPO / "target" / "debug" / "coffer"))
    if not path.is_file():
        pytest.fail(f"{path} is missing: build it with `cargo build -p coffer-host --bin coffer`")
    return path


def wasm_dir() -> pathlib.Path:
    return pathlib.Path(
        os.environ.get("COFFER_WASM_DIR", REPO / "target" / "wasm" / "wasm32-wasip2" / "release")
    )


class CofferServer:
    """A running dev server: `addr`, `token`, `plugin_dir`."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="coffer-pytest-")
        self.plugin_dir = pathlib.Path(self._tmp.name) / "plugins"
        self.plugin_dir.mkdir()
        self.token = ROOT_TOKEN
        self.addr = ""
        self.stdout_lines: list[str] = []
        self.proc = subprocess.Popen(
            [
                str(coffer_bin()),
                "server",
                "--dev",
                "--dev-root-token-id",
                ROOT_TOKEN,
                "--dev-listen-address",
                "127.0.0.1:0",
                "--dev-plugin-dir",
                str(self.plugin_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._stderr: list[str] = []
        lines: "queue.Queue[str | None]" = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, lines), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"coffer did not start in {START_TIMEOUT}s: {self.stdout_lines}")
            if line is None:
                self.proc.wait(timeout=10)
                raise RuntimeError(
                    f"coffer exited ({self.proc.returncode}) before starting:\n"
                    + "".join(self._stderr)
                )
            self.stdout_lines.append(line)
            if "Api Address:" in line:
                self.addr = line.split("Api Address:", 1)[1].strip().rstrip("/")
            if "Coffer server started" in line:
                break
        if not self.addr:
            self.stop()
            raise RuntimeError(f"no `Api Address:` line in {self.stdout_lines}")

    @staticmethod
    def _pump(pipe, lines: "queue.Queue[str | None]") -> None:
        for line in pipe:
            lines.put(line)
        lines.put(None)

    def _drain(self, pipe) -> None:
        for line in pipe:
            if len(self._stderr) < 10000:
                self._stderr.append(line)

    def stderr(self) -> str:
        return "".join(self._stderr)

    def install_engine(self, file: str) -> str:
        """Copies a built test engine into the plugin dir; returns its sha256."""
        import hashlib

        source = wasm_dir() / file
        data = source.read_bytes()
        shutil.copyfile(source, self.plugin_dir / file)
        return hashlib.sha256(data).hexdigest()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()


@pytest.fixture(scope="module")
def coffer():
    server = CofferServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def coffer_binary() -> pathlib.Path:
    """The `coffer` binary under test, for tests that start their own."""
    return coffer_bin()
