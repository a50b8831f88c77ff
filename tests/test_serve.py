"""``dexplorer serve``: the app served to browsers. A headless Chromium, driven over the
DevTools protocol, opens the control link and a view link; their pictures, their clicks, the
token check and many viewers coming and going are checked against the app in this process."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

pytest.importorskip("uvicorn")
websockets_sync = pytest.importorskip("websockets.sync.client")
from websockets.asyncio.client import connect  # noqa: E402

from dexplorer.headless import offscreen_app  # noqa: E402
from dexplorer.serve import ROLE_LINE_HEIGHT, Server, listen  # noqa: E402
from dexplorer.state import AppState  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SIZE = (640, 360)
"""The canvas: the browser's viewport less the role line."""
PLAY = (338 + 32, SIZE[1] - 40)
"""The play button's centre on the canvas: the time bar's first row, after the '<' button."""
WAIT = 60.0
"""Seconds any one wait for the browser or the server may take before the test fails."""


def _state() -> AppState:
    state = AppState()
    state.change(n=2000, steps=20)
    state.set_time(0.5)
    state.playing = False
    return state


def _until(condition, what: str, timeout: float = WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def _settled(read, samples: int = 5, timeout: float = 10.0):
    """``read()`` once it gives the same value ``samples`` times in a row, 0.1 s apart (a
    frame being sent is a task for a moment); the last value after ``timeout``."""
    end, seen = time.monotonic() + timeout, []
    while time.monotonic() < end:
        seen = [*seen[-(samples - 1) :], read()]
        if len(seen) == samples and all(value == seen[0] for value in seen):
            break
        time.sleep(0.1)
    return seen[-1]


class Page:
    """One Chromium tab over the DevTools protocol: commands by name, events ignored."""

    def __init__(self, devtools: str) -> None:
        with urllib.request.urlopen(f"{devtools}/json/version", timeout=WAIT) as answer:
            browser = json.load(answer)["webSocketDebuggerUrl"]
        self.socket = websockets_sync.connect(browser, max_size=None)
        self.calls = 0
        # A window of its own: a background tab is hidden and draws no frames.
        target = self.call("Target.createTarget", url="about:blank", newWindow=True)
        self.socket.close()
        host = devtools.split("//", 1)[1]
        page = f"ws://{host}/devtools/page/{target['targetId']}"
        self.socket = websockets_sync.connect(page, max_size=None)

    def call(self, method: str, **params: object) -> dict:
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=WAIT))
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str) -> None:
        width, height = SIZE[0], SIZE[1] + ROLE_LINE_HEIGHT
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.enable")
        self.call("Page.navigate", url=url)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def count_frames(self) -> None:
        """From now on, count the frames the page shows (window.framesShown)."""
        self.evaluate(
            "window.framesShown = 0; document.getElementById('canvas').addEventListener("
            "'load', () => { window.framesShown += 1 }, true)"
        )

    def frames(self) -> int:
        return int(self.evaluate("window.framesShown || 0"))

    def showing(self) -> bool:
        return bool(self.evaluate("(document.querySelector('#canvas img') || {}).naturalWidth"))

    def text(self) -> str:
        return str(self.evaluate("document.body ? document.body.innerText : ''"))

    def click(self, x: float, y: float) -> None:
        """A left click at canvas pixel (x, y), the button held a moment (ImGui sees the
        press and the release in different frames)."""
        y += ROLE_LINE_HEIGHT
        common = {"x": x, "y": y, "button": "left", "clickCount": 1}
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        time.sleep(0.3)
        self.call("Input.dispatchMouseEvent", type="mousePressed", buttons=1, **common)
        time.sleep(0.3)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", buttons=0, **common)

    def canvas_pixels(self) -> np.ndarray:
        clip = {"x": 0, "y": ROLE_LINE_HEIGHT, "width": SIZE[0], "height": SIZE[1], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip)
        import base64

        return iio.imread(base64.b64decode(shot["data"]))[..., :3]

    def close(self) -> None:
        self.call("Page.close")
        self.socket.close()


class Browser:
    """A headless Chromium with its DevTools endpoint."""

    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "--remote-debugging-port=0",
                f"--user-data-dir={folder}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = folder / "DevToolsActivePort"
        _until(lambda: port_file.exists() and port_file.read_text().strip(), "Chromium")
        self.devtools = f"http://127.0.0.1:{port_file.read_text().split()[0]}"

    def page(self, url: str) -> Page:
        page = Page(self.devtools)
        page.open(url)
        return page

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=WAIT)


class Running:
    """The server in a thread of this process, with its asyncio loop."""

    def __init__(self, state: AppState) -> None:
        self.server = Server(state, torch.device("cpu"), listen("127.0.0.1", 0), SIZE)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)
        self.thread.start()
        _until(lambda: self.server.ready, "the server to start", 300)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.run()

    def tasks(self) -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(WAIT)

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(WAIT)
        self.server.sock.close()


def _rss() -> int:
    """Resident bytes of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The reference frame drawn offscreen, then the same state served."""
    previous = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data"))
    reference = offscreen_app(_state(), SIZE, "cpu")
    try:
        reference.settle()
        expected = reference.screenshot()[..., :3]
    finally:
        reference.close()
    state = _state()
    running = Running(state)
    yield running, state, expected
    running.stop()
    if previous is None:
        os.environ.pop("XDG_DATA_HOME")
    else:
        os.environ["XDG_DATA_HOME"] = previous


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("no chromium here (apt-get install chromium; .ci/setup installs it)")
    browser = Browser(tmp_path_factory.mktemp("chromium"))
    yield browser
    browser.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_wrong_or_missing_token_is_refused_with_a_page(served):
    running, _, _ = served
    server = running.server
    for path in ("/control/wrong", "/control", f"/control/{server.token}x"):
        status, page = _get(server.base + path)
        assert status == 403
        assert "this control link is not valid" in page
    status, page = _get(server.control_link)
    assert status == 200 and "you control this view" in page
    status, page = _get(server.view_link)
    assert status == 200 and "you are watching (view only)" in page
    assert "<title>dexplorer</title>" in page
    ws = server.base.replace("http", "ws")
    with pytest.raises(websockets_sync.InvalidStatus) as refused:
        websockets_sync.connect(f"{ws}/control/wrong")
    assert refused.value.response.status_code == 403


def test_both_links_show_the_scene_and_only_the_control_link_drives_it(served, browser):
    running, state, expected = served
    server = running.server
    control = browser.page(server.control_link)
    view = browser.page(server.view_link)
    refused = browser.page(server.base + "/control/not-the-token")
    try:
        _until(control.showing, "the control page's first frame")
        _until(view.showing, "the view page's first frame")
        # Its own page, loaded beside the others: read once it is there.
        _until(lambda: "this control link is not valid" in refused.text(), "the refusal page")
        assert "you control this view" in control.text()
        assert "you are watching (view only)" in view.text()
        # The canvas takes the controller's window size (less the role line).
        assert tuple(server.canvas.get_physical_size()) == SIZE
        assert not server.app.status.dialogs.enabled  # the typed paths only: no server dialog
        blank = np.abs(expected.astype(float) - np.median(expected, axis=(0, 1))).mean()
        for page in (control, view):
            time.sleep(0.5)
            shown = page.canvas_pixels().astype(float)
            assert shown.shape == expected.shape
            difference = np.abs(shown - expected).mean()
            assert difference < 0.1 * blank, (difference, blank)
        view.click(*PLAY)
        time.sleep(1.0)
        assert not state.playing and state.t == 0.5
        control.click(*PLAY)
        _until(lambda: state.t > 0.5, "t to move after play")
        assert state.playing
        control.click(*PLAY)  # pause again
        _until(lambda: not state.playing, "pause")
    finally:
        for page in (control, view, refused):
            page.close()


def test_viewers_that_come_and_go_cost_nothing_and_never_slow_the_controller(served, browser):
    running, _, _ = served
    server = running.server
    control = browser.page(server.control_link)
    viewers = 50
    link = server.view_link.replace("http", "ws")

    async def crowd() -> None:
        sockets = await asyncio.gather(*(connect(link, max_size=None) for _ in range(viewers)))
        try:
            # Each gets a frame and confirms none (a slow viewer); the controller goes on.
            await asyncio.gather(*(ws.recv() for ws in sockets))
            shown = control.frames()
            await asyncio.to_thread(_until, lambda: control.frames() >= shown + 5, "frames")
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

    def come_and_go() -> None:
        connected = len(server.canvas._frame_info_per_client)
        asyncio.run(asyncio.wait_for(crowd(), WAIT))
        _until(lambda: len(server.canvas._frame_info_per_client) == connected, "them to leave")

    try:
        _until(control.showing, "the control page's first frame")
        control.count_frames()
        come_and_go()  # warm-up: what is allocated once

        def counts() -> tuple[int, int]:
            return threading.active_count(), running.tasks()

        before = (*_settled(counts), _rss())
        for _ in range(3):
            come_and_go()
        after = (*_settled(counts), _rss())
        assert after[:2] == before[:2]
        assert after[2] - before[2] < 40 * 2**20, (before, after)
    finally:
        control.close()


def test_the_command_line_refuses_a_port_in_use_and_a_bad_host(tmp_path):
    taken = listen("127.0.0.1", 0)
    port = taken.getsockname()[1]
    taken.listen()
    try:
        for extra, said in (
            (["--port", str(port)], f"--port {port}: already in use"),
            (["--host", "no-such-host.invalid"], "--host no-such-host.invalid: not a known"),
            (["--port", "65536"], "expected an integer from 0 to 65,535"),
        ):
            done = subprocess.run(
                [sys.executable, "-m", "dexplorer", "serve", "-n", "100", *extra],
                capture_output=True,
                text=True,
                timeout=WAIT * 2,
            )
            assert done.returncode == 2
            assert said in done.stderr
            assert done.stderr.startswith("dexplorer: error: ")
            assert done.stderr.count("\n") == 1
    finally:
        taken.close()
