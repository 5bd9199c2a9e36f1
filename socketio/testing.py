"""A test client: unit-test namespace classes without a network.

:class:`SocketIOTestClient` plays the part of a Socket.IO 0.9 client connected
over a websocket, but no server listens and no HTTP is spoken. It creates a real
:class:`~socketio.virtsocket.Socket` in a :class:`FakeServer`, runs the
application (or :func:`socketio.socketio_manage` with the namespaces given) in
a greenlet exactly as the server's handler does, and feeds it wire packets. Each
call (:meth:`~SocketIOTestClient.connect`, :meth:`~SocketIOTestClient.emit`,
:meth:`~SocketIOTestClient.send`, :meth:`~SocketIOTestClient.disconnect`)
returns once the socket's receiver loop has processed what was sent, so a test
reads like a conversation::

    from socketio.testing import SocketIOTestClient

    def test_say():
        client = SocketIOTestClient({"/chat": ChatNamespace})
        client.connect("/chat")
        assert client.emit("say", "hi", namespace="/chat", callback=True) == ["ok"]
        assert [p["name"] for p in client.get_received("/chat")] == ["said"]
        client.disconnect()

Several clients that share one :class:`FakeServer` see each other's rooms and
broadcasts. No heartbeats are sent and no session times out; greenlets that a
handler spawns run whenever the test yields to gevent (``gevent.sleep(...)``).
"""

from __future__ import annotations

import logging
import time
import wsgiref.util
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional, Union

import gevent
import gevent.event

from . import packet, socketio_manage
from .exceptions import ConfigError, SocketIOError
from .state import LIVE
from .testing_server import FakeServer, _DrivenSocket

__all__ = ["FakeServer", "HandlerTimeout", "SocketIOTestClient"]

log = logging.getLogger(__name__)

#: Packet types kept by :meth:`SocketIOTestClient.get_received`; the others
#: (connect, disconnect, heartbeat, noop) change the client's state instead.
RECEIVED_TYPES = frozenset({"message", "json", "event", "ack", "error"})

Callback = Union[bool, Callable[..., Any], None]


class HandlerTimeout(SocketIOError, TimeoutError):
    """The application did not finish processing a packet within the client's ``timeout``."""


class SocketIOTestClient:
    """A Socket.IO 0.9 client talking to the application in the same process.

    Give either ``namespaces`` (served through :func:`socketio.socketio_manage`)
    or ``app``, a WSGI application that routes ``/socket.io/...`` to
    ``socketio_manage`` itself (a Flask, Django or Pyramid app, say).

    Args:
        namespaces: endpoint → namespace class, as for ``socketio_manage``.
        app: a WSGI application, instead of ``namespaces``.
        server: a :class:`FakeServer` shared with other clients (a new one by default).
        environ: WSGI environ keys for the request that opens the socket
            (``HTTP_COOKIE``, ``REMOTE_ADDR``, ``QUERY_STRING``...).
        request: passed to ``socketio_manage`` (``namespaces`` form only).
        error_handler, json_loads, json_dumps: passed to ``socketio_manage``
            (``namespaces`` form only).
        raise_errors: re-raise, in the test, an exception that a handler or the
            application raised (the server would only log it).
        timeout: seconds to wait for the application to process one packet.

    Raises:
        ConfigError: both or neither of ``namespaces`` and ``app`` were given, or
            the application did not call ``socketio_manage`` for the request.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        namespaces: Optional[Mapping[str, type]] = None,
        *,
        app: Optional[Callable[..., Iterable[bytes]]] = None,
        server: Optional[FakeServer] = None,
        environ: Optional[Mapping[str, Any]] = None,
        request: Any = None,
        error_handler: Optional[Callable[..., Any]] = None,
        json_loads: Optional[Callable[[str], Any]] = None,
        json_dumps: Optional[Callable[[Any], str]] = None,
        raise_errors: bool = True,
        timeout: float = 5.0,
    ) -> None:
        if (namespaces is None) == (app is None):
            raise ConfigError("give SocketIOTestClient either namespaces or app")
        if app is None:
            assert namespaces is not None
            app = _manage_app(namespaces, request, error_handler, json_loads, json_dumps)
        self.server = server if server is not None else FakeServer()
        self.raise_errors = raise_errors
        self.timeout = timeout
        socket = self.server.get_socket()
        assert isinstance(socket, _DrivenSocket)
        self.socket: _DrivenSocket = socket
        socket.connection_established = True
        socket.transport_name = "websocket"
        self.server.manager.add_socket(socket.sessid, "")
        self._sent = 0
        self._msgid = 0
        self._received: list[dict[str, Any]] = []
        self._acks: dict[int, list[Any]] = {}
        self._namespaces: set[str] = set()
        self._closed = False
        self._app_errors: list[BaseException] = []
        self.environ = self._make_environ(environ)
        self._app = gevent.spawn(self._run_application, app, self.environ)
        self._app.link(lambda _: socket.progress.set())
        self._wait(lambda: socket.receiver is not None or self._app.dead)
        if socket.receiver is None:
            self._raise_app_errors()
            raise ConfigError(
                f"the application did not call socketio_manage() for {self.environ['PATH_INFO']}"
            )

    # -- inspection ---------------------------------------------------------

    @property
    def sessid(self) -> str:
        """The session id of the socket."""
        return self.socket.sessid

    @property
    def session(self) -> dict[str, Any]:
        """The socket's session dict, as the namespaces see it."""
        return self.socket.session

    def namespace(self, name: str = "") -> Any:
        """The live namespace instance for endpoint ``name``, or ``None`` if not active."""
        return self.socket.active_ns.get(name)

    def is_connected(self, namespace: str = "") -> bool:
        """Whether the socket is alive and, for a non-global ``namespace``, connected to it."""
        self._pump()
        if self._closed or not self.socket.connected:
            return False
        return namespace == "" or namespace in self._namespaces

    def get_received(self, namespace: Optional[str] = None) -> list[dict[str, Any]]:
        """Take the packets the server sent since the last call.

        Args:
            namespace: only the packets of this endpoint (the others stay
                queued); ``None`` for every endpoint.

        Returns:
            Decoded packet dicts (see :mod:`socketio.packet`) of the types
            ``event`` (``name``, ``args``), ``message``/``json`` (``data``),
            ``error`` and unclaimed ``ack``, in the order sent. Connect,
            disconnect, heartbeat and noop packets only change
            :meth:`is_connected`.
        """
        gevent.sleep(0)  # let greenlets that are ready (spawned jobs) run first
        self._pump()
        if namespace is None:
            taken, self._received = self._received, []
            return taken
        taken = [p for p in self._received if p["endpoint"] == namespace]
        self._received = [p for p in self._received if p["endpoint"] != namespace]
        return taken

    # -- talking ------------------------------------------------------------

    def connect(self, namespace: str, query: str = "") -> bool:
        """Open ``namespace`` (``1::/chat``), as ``io.connect('/chat')`` does.

        The global namespace ``''`` is open from the start. Returns whether the
        server acknowledged the connection.
        """
        if namespace:
            self._send({"type": "connect", "endpoint": namespace, "qs": query})
        return self.is_connected(namespace)

    def emit(self, event: str, *args: Any, namespace: str = "", callback: Callback = None) -> Any:
        """Send event ``event`` with ``args`` and wait until the server has handled it.

        Args:
            event: the event's name.
            *args: its arguments, sent as JSON.
            namespace: the endpoint (``""``: the global one).
            callback: ``True`` to ask for an acknowledgement, or a callable that
                receives its arguments (as a JavaScript callback would).

        Returns:
            With a ``callback``, the acknowledgement's arguments as a list
            (``None`` if the server sent none, e.g. because the handler failed);
            else ``None``.
        """
        pkt: dict[str, Any] = {"type": "event", "name": event, "args": list(args)}
        return self._send_with_ack(pkt, namespace, callback, "data")

    def send(
        self, data: Any, namespace: str = "", json: bool = False, callback: Callback = None
    ) -> Any:
        """Send a message (``socket.send``) or, with ``json``, a JSON message.

        With a ``callback`` the server acknowledges on receipt (with no
        arguments); the return value is then ``[]``.
        """
        pkt: dict[str, Any] = {"type": "json" if json else "message", "data": data}
        return self._send_with_ack(pkt, namespace, callback, True)

    def ack(self, pkt: dict[str, Any], *args: Any) -> None:
        """Answer an event the server emitted with a callback (``pkt['ack'] == 'data'``)."""
        if not pkt.get("id"):
            raise ConfigError("this packet did not ask for an acknowledgement")
        self._send(
            {"type": "ack", "ackId": pkt["id"], "args": list(args), "endpoint": pkt["endpoint"]}
        )

    def disconnect(self, namespace: str = "") -> None:
        """Leave ``namespace`` (``0::/chat``), or end the whole socket for ``''`` (``0::``)."""
        if self._closed:
            return
        self._namespaces.discard(namespace)
        self._send({"type": "disconnect", "endpoint": namespace})

    def close(self) -> None:
        """End the socket from the server side if it is still alive, and wait for the application."""
        if self.socket.state in LIVE:
            self.socket.kill(detach=True)
        self._app.join(self.timeout)
        self._pump()
        self._closed = True

    def __enter__(self) -> SocketIOTestClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SocketIOTestClient {self.sessid} {self.socket.state}>"

    # -- internals ----------------------------------------------------------

    def _make_environ(self, extra: Optional[Mapping[str, Any]]) -> dict[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": f"/{self.server.resource}/1/websocket/{self.sessid}",
            "QUERY_STRING": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "REMOTE_ADDR": "127.0.0.1",
        }
        wsgiref.util.setup_testing_defaults(environ)
        environ.update(extra or {})
        environ["socketio"] = self.socket
        return environ

    def _run_application(self, app: Callable[..., Any], environ: dict[str, Any]) -> None:
        """Run the WSGI application as the server's handler does for a new session."""

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            return lambda data: None

        try:
            result = app(environ, start_response)
            close = getattr(result, "close", None)
            if close is not None:
                close()
        except Exception as exc:
            log.exception("the application failed while serving %s", self.socket)
            self._app_errors.append(exc)
        finally:
            if self.socket.state in LIVE:
                self.socket.kill(detach=True)

    def _next_id(self) -> int:
        self._msgid += 1
        return self._msgid

    def _send_with_ack(
        self, pkt: dict[str, Any], namespace: str, callback: Callback, kind: Any
    ) -> Any:
        pkt["endpoint"] = namespace
        if not callback:
            self._send(pkt)
            return None
        pkt["id"] = msgid = self._next_id()
        pkt["ack"] = kind
        self._send(pkt)
        args = self._acks.pop(msgid, None)
        if args is not None and callable(callback):
            callback(*args)
        return args

    def _send(self, pkt: dict[str, Any]) -> None:
        """Encode and queue one packet for the server, then wait until it is processed."""
        if self._closed or self.socket.state not in LIVE:
            self._pump()
            raise ConfigError(f"{self!r} is disconnected")
        self.socket.put_server_msg(packet.encode(pkt))
        self._sent += 1
        self._wait(self._processed_or_stopped)
        self._pump()
        self._raise_app_errors()

    def _processed_or_stopped(self) -> bool:
        socket = self.socket
        return socket.processed >= self._sent or not socket.receiving

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout
        progress = self.socket.progress
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HandlerTimeout(
                    f"the application did not finish within {self.timeout}s "
                    "(raise SocketIOTestClient(timeout=...) for slow handlers)"
                )
            progress.clear()
            if done():
                break
            progress.wait(remaining)

    def _raise_app_errors(self) -> None:
        errors = self.socket.errors + self._app_errors
        self.socket.errors.clear()
        self._app_errors.clear()
        if errors and self.raise_errors:
            raise errors[0]

    def _pump(self) -> None:
        """Decode what the server queued; answer plain ack requests as the 0.9 client does."""
        answers = []
        queue = self.socket.client_queue
        while queue.qsize():
            raw = queue.get_nowait()
            if not queue.qsize():
                self.socket._queued_bytes = 0  # (what put_client_msg counts)
            if raw is None:
                self._closed = True
                continue
            pkt = packet.decode(raw)
            ptype = pkt["type"]
            endpoint = pkt["endpoint"]
            if ptype == "connect":
                self._namespaces.add(endpoint)
            elif ptype == "disconnect":
                if endpoint:
                    self._namespaces.discard(endpoint)
                else:
                    self._closed = True
                    self._namespaces.clear()
            elif ptype == "ack" and 0 < pkt["ackId"] <= self._msgid:
                # Ids are issued in order and each call waits for its answer,
                # so an ack for an id we issued answers one of our calls.
                self._acks[pkt["ackId"]] = pkt["args"]
            elif ptype in RECEIVED_TYPES:
                self._received.append(pkt)
                if pkt.get("ack") is True and pkt.get("id") and ptype != "event":
                    answers.append({"type": "ack", "ackId": pkt["id"], "endpoint": endpoint})
        for answer in answers:
            if not self._closed and self.socket.connected:
                self._send(answer)


def _manage_app(
    namespaces: Mapping[str, type],
    request: Any,
    error_handler: Optional[Callable[..., Any]],
    json_loads: Optional[Callable[[str], Any]],
    json_dumps: Optional[Callable[[Any], str]],
) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        socketio_manage(
            environ,
            dict(namespaces),
            request=request,
            error_handler=error_handler,
            json_loads=json_loads,
            json_dumps=json_dumps,
        )
        return []

    return app
