"""The app in browsers: rendercanvas's http canvas (an ASGI app) served by uvicorn, with one
control link, whose token lets its events drive the app, and a view link that only watches.

rendercanvas encodes each frame once and sends it to every connected view that has confirmed
all but its last frames, so a slow view drops frames; the pace of drawing follows one view,
here the controller's (the first viewer's while no controller is connected). What this module
adds: the pages, the token check at connection, and which connection's events count."""

from __future__ import annotations

import asyncio
import contextvars
import errno
import html
import ipaddress
import secrets
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rendercanvas.http import HttpRenderCanvas, asgi, resources

from .headless import prepare_environment
from .state import AppState
from .user_files import UserError

if TYPE_CHECKING:
    import torch

    from .app import App

CONTROL = "control"
VIEW = "view"
ROLE: contextvars.ContextVar[str] = contextvars.ContextVar("dexplorer_serve_role", default=VIEW)
"""The role of the connection whose ASGI task runs (each connection has its own task)."""

STATIC = frozenset(name for name in resources if name != "index.html")
"""rendercanvas's scripts and style sheet, served to anyone at any folder."""

ROLE_LINES = {CONTROL: "you control this view", VIEW: "you are watching (view only)"}
ROLE_LINE_HEIGHT = 24
"""CSS pixels of the line above the frame saying whether the page controls or watches."""
MAX_FPS = 60

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>dexplorer</title>
<script type="module" src="renderview.js"></script>
<script type="module" src="renderview-client.js"></script>
<link rel="stylesheet" href="renderview.css">
<style>
html, body {{ margin: 0; height: 100%; overflow: hidden; background: #202020; color: #eee; }}
#role {{ height: {line}px; line-height: {line}px; padding: 0 8px; font: 14px sans-serif; }}
div#canvas.renderview-wrapper {{ display: block; border: 0; }}
#canvas img {{ object-fit: contain; }}
</style>
</head>
<body>
<div id="role">dexplorer: {role}</div>
<div id="canvas" style="width: 100vw; height: calc(100vh - {line}px)"></div>
</body>
</html>
"""
"""The page of both links: the frame fills the window below the role line; a viewer's frame
keeps the controller's aspect (``object-fit: contain``)."""

REFUSED = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>dexplorer</title></head>
<body style="font-family: sans-serif">
<h1>dexplorer: this control link is not valid</h1>
<p>The control link's token is wrong or missing. Ask for the link printed by
<code>dexplorer serve</code>, or open the view link to watch.</p>
</body></html>
"""


class ServedCanvas(HttpRenderCanvas):
    """rendercanvas's http canvas where only control connections drive the app: it owns
    which connections are controllers. Their events reach the app and the first of them sets
    the pace and the size; a viewer's events are dropped, only its frame confirmations count
    (and those only for frames it was sent)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.controllers: set[int] = set()
        self._told_active = 0
        self.closed = asyncio.Event()
        super().__init__(*args, **kwargs)

    def _on_event(self, event: dict, id: int) -> None:
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "_clients_change":
            if id != 0:
                return  # only the server says who is connected
            ids = tuple(event["ids"])
            if ROLE.get() == CONTROL:
                self.controllers |= set(ids) - set(self._frame_info_per_client)
            self.controllers &= set(ids)
            first = sorted(ids, key=lambda i: i not in self.controllers)  # stable: oldest first
            super()._on_event({"type": kind, "ids": tuple(first)}, 0)
        elif kind == "_framefeedback":
            info = self._frame_info_per_client.get(id)
            index, stamp = event.get("index"), event.get("timestamp")
            if info is None or not isinstance(index, int) or not 0 <= index <= info["sent"]:
                return  # a frame never sent would let a view pile up frames it does not read
            if isinstance(stamp, int | float):
                super()._on_event(event, id)
        elif id in self.controllers:
            super()._on_event(event, id)

    def _rc_close(self) -> None:
        super()._rc_close()
        self.closed.set()

    def _update_active_states(self) -> None:
        """Tell the connections whose part changed, not every connection at every arrival
        or departure (rendercanvas's way: n² messages for n viewers, which pile up unread in
        a slow viewer)."""
        active = self._active_client
        if active != self._told_active:
            asgi.send_to({"type": "active", "value": False}, [], self._told_active)
            asgi.send_to({"type": "active", "value": True}, [], active)
            self._told_active = active


@dataclass
class Gate:
    """The ASGI app in front of rendercanvas's: serves the pages, and gives each connection
    its role from its path: ``/`` or ``/view`` watch, ``/control/TOKEN`` controls, a wrong or
    missing token is refused (an HTTP 403 page; a websocket is closed before it opens)."""

    token: str

    async def __call__(self, scope: dict, receive: object, send: object) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await asgi(scope, receive, send)
            return
        path = scope["path"]
        if kind == "http" and path.rsplit("/", 1)[-1] in STATIC:
            await asgi(scope, receive, send)
            return
        role = self.role(path)
        if kind == "websocket":
            if role in ROLE_LINES:
                ROLE.set(role)
                await asgi(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if role in ROLE_LINES:
            page = PAGE.format(role=html.escape(ROLE_LINES[role]), line=ROLE_LINE_HEIGHT)
            await _respond(send, 200, page)
        elif role == "refused":
            await _respond(send, 403, REFUSED)
        else:
            await _respond(send, 404, "<!DOCTYPE html><title>dexplorer</title>not found")

    def role(self, path: str) -> str | None:
        """``VIEW``, ``CONTROL``, "refused" (the control path without its token) or None."""
        if path in ("/", "/view", "/view/"):
            return VIEW
        head, _, token = path.strip("/").partition("/")
        if head != CONTROL:
            return None
        return CONTROL if secrets.compare_digest(token, self.token) else "refused"


async def _respond(send: object, status: int, page: str) -> None:
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": page.encode()})


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (before any work starts, so that a port in use
    or a bad host is a one-line error).

    Raises
    ------
    UserError
        When the host is not an address here or the port cannot be taken.
    """
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise UserError(
            f"--host {host}: not a known host name or address ({error.strerror})"
        ) from None
    family, kind, proto, _, address = found[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise UserError(f"--port {port}: already in use on {host}; choose another") from None
        raise UserError(f"--host {host}: cannot listen there ({error.strerror})") from None
    return sock


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Server:
    """Owns one served app: the listening socket, the control token, and (while
    :meth:`run` runs) the canvas, the App and uvicorn's server."""

    state: AppState
    device: str | torch.device
    sock: socket.socket
    size: tuple[int, int]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    canvas: ServedCanvas | None = None
    app: App | None = None
    _server: object = None

    @property
    def base(self) -> str:
        """The address browsers use (this machine's name when listening on every
        interface)."""
        host, port = self.sock.getsockname()[:2]
        if ipaddress.ip_address(host).is_unspecified:
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def control_link(self) -> str:
        return f"{self.base}/{CONTROL}/{self.token}"

    @property
    def view_link(self) -> str:
        return f"{self.base}/{VIEW}"

    async def run(self) -> None:
        """Serve until stopped (:meth:`stop`, or Ctrl-C from uvicorn's signal handlers)."""
        import uvicorn

        from .app import App
        from .ui.dialogs import FileDialogs

        prepare_environment()
        self.canvas = ServedCanvas(
            size=self.size, title="dexplorer", update_mode="continuous", max_fps=MAX_FPS
        )
        self.app = app = App(self.canvas, self.state, self.device)
        app.status.dialogs = FileDialogs(enabled=False)  # one would open here, not in a browser
        self.canvas.request_draw(app.draw)
        config = uvicorn.Config(Gate(self.token), log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        # rendercanvas's loop takes Ctrl-C from uvicorn once it runs, and closes the canvas.
        closed = asyncio.create_task(self.canvas.closed.wait())
        serving = asyncio.create_task(self._server.serve(sockets=[self.sock]))
        try:
            await asyncio.wait([closed, serving], return_when=asyncio.FIRST_COMPLETED)
            self._server.should_exit = True
            await serving
        finally:
            closed.cancel()
            self.canvas.close()
            app.close()

    @property
    def ready(self) -> bool:
        """Whether browsers can connect (:meth:`run` has started serving)."""
        return bool(self._server is not None and self._server.started)

    def stop(self) -> None:
        """Ask uvicorn to close the connections and return from :meth:`run`."""
        if self._server is not None:
            self._server.should_exit = True


def announce(server: Server, host: str) -> str:
    """What ``dexplorer serve`` prints: the two links, and who can connect."""
    lines = [
        f"dexplorer: serving at {server.base}",
        f"  control link (keep it to yourself; it drives the app): {server.control_link}",
        f"  view link (share it; it only watches):                  {server.view_link}",
    ]
    if is_loopback(host):
        lines.append("  only this machine can connect (--host 0.0.0.0 opens it to the network)")
    else:
        lines.append(
            f"  listening on {host}: anyone on that network who has a link can connect; "
            "the control link's token is the only protection"
        )
    lines.append("  Ctrl-C stops")
    return "\n".join(lines)


def serve(
    state: AppState,
    device: str | torch.device,
    sock: socket.socket,
    host: str,
    size: tuple[int, int],
) -> None:
    """``dexplorer serve``: print the links, serve on ``sock`` (from :func:`listen`) until
    Ctrl-C."""
    server = Server(state, device, sock, size)
    print(announce(server, host), flush=True)
    asyncio.run(server.run())
    print("dexplorer: stopped serving", file=sys.stderr)
