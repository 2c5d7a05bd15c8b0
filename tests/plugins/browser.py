"""A headless Debian chromium driven over the Chrome DevTools protocol (websocket).

Enough for a person-like UI test: open pages, type into inputs, click, read text from
the page or from an iframe inside it, take screenshots. No selenium, no downloads.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]  # fmt: skip


class BrowserError(RuntimeError):
    pass


def chromium_path() -> str | None:
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


class Page:
    """One browser tab reached through its DevTools websocket."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=64 * 2**20, open_timeout=30)
        self._id = 0

    def call(self, method: str, timeout: float = 60, **params: Any) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no answer in {timeout}s")
            msg = json.loads(self.ws.recv(timeout=left))
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str, context_id: int | None = None) -> Any:
        params: dict[str, Any] = {"expression": expression, "returnByValue": True,
                                  "awaitPromise": True}  # fmt: skip
        if context_id is not None:
            params["contextId"] = context_id
        res = self.call("Runtime.evaluate", **params)
        if "exceptionDetails" in res:
            raise BrowserError(f"{expression[:80]}: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            with contextlib.suppress(BrowserError):
                last = self.eval(expression)
                if last:
                    return last
            time.sleep(0.5)
        url = self.eval("location.href")
        raise BrowserError(f"timed out waiting for {what or expression} at {url} (last {last!r})")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        time.sleep(0.3)
        self.wait_for("document.readyState === 'complete'", 60, f"page {url}")

    def type_into(self, selector: str, text: str) -> None:
        """Focus an input and type ``text`` the way keyboard input arrives."""
        self.eval(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def click(self, expression: str, timeout: float = 15) -> None:
        """Click the element ``expression`` evaluates to, with a real mouse event, once it
        has stopped moving and nothing covers it (a dialog still opening, or a form whose
        fields load late and push the button down, would take the click elsewhere)."""
        probe = (f"(() => {{ const e = {expression}; e.scrollIntoView({{block: 'center'}}); "
                 "const r = e.getBoundingClientRect(); "
                 "const x = r.x + r.width / 2, y = r.y + r.height / 2; "
                 "const hit = document.elementFromPoint(x, y); "
                 "return [x, y, !!hit && (hit === e || e.contains(hit))]; })()")  # fmt: skip
        deadline, last = time.monotonic() + timeout, None
        while True:
            x, y, on_top = self.eval(probe)
            if on_top and last == (x, y):
                break
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression} never held still uncovered (at {x}, {y})")
            last = (x, y) if on_top else None
            time.sleep(0.25)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)  # fmt: skip

    def frame_context(self, url_part: str) -> int:
        """An execution context inside the (possibly sandboxed) frame whose URL holds
        ``url_part``."""

        def frames(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
            yield node["frame"]
            for child in node.get("childFrames", []):
                yield from frames(child)

        tree = self.call("Page.getFrameTree")["frameTree"]
        children = [f for child in tree.get("childFrames", []) for f in frames(child)]
        for frame in children:
            if url_part in frame.get("url", ""):
                world = self.call("Page.createIsolatedWorld", frameId=frame["id"],
                                  worldName="maga-test")  # fmt: skip
                return int(world["executionContextId"])
        raise BrowserError(f"no frame with {url_part!r} in its URL")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 12000), "scale": 1}  # fmt: skip
            params["captureBeyondViewport"] = True
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path.write_bytes(data)
        return path


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """Start a throw-away headless chromium and yield its first tab."""
    exe = chromium_path()
    if exe is None:
        raise BrowserError("chromium not installed (scripts/ci-system-deps.sh)")
    profile = tempfile.mkdtemp(prefix="maga-chromium-")
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    page = None
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BrowserError(f"chromium did not start: {proc.stderr.read()[-2000:]}")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as res:
            targets = json.load(res)
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        page = Page(ws_url)
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        yield page
    finally:
        if page is not None:
            with contextlib.suppress(Exception):
                page.ws.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG header (checks the signature)."""
    data = path.read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise BrowserError(f"{path} is not a PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
