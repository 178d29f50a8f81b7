"""A real headless Chromium for tests, driven over the DevTools protocol (websockets, no driver).

    with Browser(tmp_path) as b:
        b.open(Path("report.html"))
        b.eval("document.title"), b.errors, b.screenshot(tmp_path / "page.png")

Starts Debian's /usr/bin/chromium with the flags this machine needs (no sandbox as root, no
background networking: the network is closed). `Browser.find()` is None when no Chromium is installed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-allow-origins=*", "--window-size=1280,1000")


class Browser:
    """One Chromium process and one page; console errors and uncaught exceptions gather in `errors`."""

    def __init__(self, workdir: Path, timeout: float = 60) -> None:
        self.workdir, self.timeout = workdir, timeout
        self.errors: list[str] = []
        self.loaded = False
        self._id = 0

    @staticmethod
    def find() -> str | None:
        return shutil.which("chromium") or shutil.which("chromium-browser")

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        self.workdir.mkdir(parents=True, exist_ok=True)
        profile = Path(tempfile.mkdtemp(prefix="chromium-profile-", dir=self.workdir))
        self.log = (self.workdir / "chromium.log").open("w")
        self.proc = subprocess.Popen([self.find(), *FLAGS, f"--user-data-dir={profile}",
                                      "--remote-debugging-port=0", "about:blank"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.ws = None
        try:
            port = self._port(profile / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                page = next(t for t in json.load(r) if t["type"] == "page")
            self.ws = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=self.timeout)
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ws is not None:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def _port(self, path: Path) -> int:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if path.is_file() and path.read_text().strip():
                return int(path.read_text().splitlines()[0])
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"chromium did not open its DevTools port; see {self.workdir / 'chromium.log'}")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result; events seen meanwhile are recorded."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = self._recv()
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def _recv(self) -> dict[str, Any]:
        msg = json.loads(self.ws.recv(timeout=self.timeout))
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif method == "Page.javascriptDialogOpening":
            self.errors.append(f"dialog opened: {params.get('message')}")
            self.send("Page.handleJavaScriptDialog", accept=True)
        elif method == "Page.loadEventFired":
            self.loaded = True
        return msg

    def open(self, path: Path, fragment: str = "") -> None:
        """Load a local file afresh and wait for its load event (about:blank first: a change of
        fragment alone would not reload a page already open)."""
        for url in ("about:blank", path.resolve().as_uri() + fragment):
            self.loaded = False
            self.send("Page.navigate", url=url)
            deadline = time.monotonic() + self.timeout
            while not self.loaded:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not finish loading")
                self._recv()

    def eval(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value (JSON-able results only)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, not only the window."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
