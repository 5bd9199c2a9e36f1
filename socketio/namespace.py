"""Namespaces: the application's side of one endpoint of a virtual socket.

Subclass :class:`BaseNamespace` and define ``on_<event>`` methods for client
events and ``recv_*`` methods for the other packet types. An instance is made
for a socket when the first packet for its endpoint arrives.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

import gevent

from .exceptions import ACLError, ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = ["BaseNamespace", "allowed_event_name_regex"]

log = logging.getLogger(__name__)

allowed_event_name_regex = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*$")

_NO_SUCH_ACL = (
    "Trying to delete an ACL method, but none were defined yet! "
    "Or: No ACL restrictions yet, why would you delete one?"
)


def _handler_shape(method: Callable[..., Any]) -> Optional[bool]:
    """How ``method`` takes an event, read from its ``def``.

    ``None`` if it cannot be a handler (its first parameter is not ``self``,
    or its signature cannot be read), ``True`` if its only parameter after
    ``self`` is named ``packet`` (it takes the packet dict), else ``False``
    (it takes the event's arguments).
    """
    func = getattr(method, "__func__", method)
    try:
        return _function_shape(func)
    except TypeError:  # an unhashable callable: read it every time
        return _read_shape(func)


def _read_shape(func: Callable[..., Any]) -> Optional[bool]:
    try:
        params = tuple(inspect.signature(func, follow_wrapped=True).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params or not (
        params[0].name == "self" or params[0].kind is inspect.Parameter.VAR_POSITIONAL
    ):
        return None
    return len(params) == 2 and params[1].name == "packet"


# inspect.signature costs microseconds on every event; a handler's function
# does not change, so how it is called is read once (bounded, by function).
_function_shape = functools.lru_cache(maxsize=4096)(_read_shape)


class BaseNamespace:
    """Base class of the application's namespaces.

    Args:
        environ: the WSGI environ of the request that started the socket.
        ns_name: the endpoint, like ``'/chat'``, or ``''`` for the global namespace.
        request: the object given to :func:`~socketio.socketio_manage` as ``request``.

    Attributes:
        environ: as given.
        socket: the :class:`~socketio.virtsocket.Socket` (``environ['socketio']``).
        session: the socket's session dict, shared by all its namespaces.
        request: as given.
        ns_name: as given.
        allowed_methods: the ACL: ``None`` (everything allowed) or a set of
            method names like ``'on_login'`` or ``'recv_connect'``.
        jobs: greenlets started with :meth:`spawn`.
    """

    def __init__(self, environ: dict, ns_name: str, request: Any = None) -> None:
        self.environ = environ
        self.socket: Socket = environ["socketio"]
        self.session = self.socket.session
        self.request = request
        self.ns_name = ns_name
        self.allowed_methods: Optional[set[str]] = None
        self.jobs: list[gevent.Greenlet] = []
        self.reset_acl()

    # -- ACL ----------------------------------------------------------------

    def is_method_allowed(self, method_name: str) -> bool:
        """Whether the ACL lets the client reach ``method_name``."""
        if self.allowed_methods is None:
            return True
        return method_name in self.allowed_methods

    def add_acl_method(self, method_name: Union[str, Iterable[str]]) -> None:
        """Open one method (a name) or several (an iterable of names) to the client."""
        names = {method_name} if isinstance(method_name, str) else set(method_name)
        if self.allowed_methods is None:
            self.allowed_methods = set()
        self.allowed_methods.update(names)

    def del_acl_method(self, method_name: str) -> None:
        """Close a method that the ACL had opened.

        Raises:
            ACLError: (a ``ValueError``) no ACL is set, everything is open.
        """
        if self.allowed_methods is None:
            raise ACLError(_NO_SUCH_ACL)
        self.allowed_methods.discard(method_name)

    def lift_acl_restrictions(self) -> None:
        """Open every method (the ACL becomes ``None``)."""
        self.allowed_methods = None

    def get_initial_acl(self) -> Optional[Iterable[str]]:
        """The ACL a new instance starts with; ``None`` (the default) opens everything.

        Override it to return the names first reachable, e.g. ``['on_login']``,
        and open the rest with :meth:`add_acl_method` or :meth:`lift_acl_restrictions`.
        """
        return None

    def reset_acl(self) -> None:
        """Go back to :meth:`get_initial_acl`."""
        initial = self.get_initial_acl()
        self.allowed_methods = None if initial is None else set(initial)

    # -- incoming packets ---------------------------------------------------

    def initialize(self) -> None:
        """Called after ``__init__``, for each class of the MRO that defines it.

        Override it instead of ``__init__`` to set up state.
        """

    def process_packet(self, packet: dict[str, Any]) -> Any:
        """Dispatch a decoded packet to the right ``recv_*``/``on_*`` method.

        Returns:
            What the handler returned (sent back as ack data when asked for).
        """
        handler = _PACKET_HANDLERS.get(packet["type"])
        if handler is None:
            log.info("%s: unprocessed packet %r", self.ns_name, packet)
            return None
        return handler(self, packet)

    def _process_connect(self, packet: dict[str, Any]) -> Any:
        self.socket.send_packet(packet)
        return self.call_method_with_acl("recv_connect", packet)

    def _process_ack(self, packet: dict[str, Any]) -> Any:
        callback = self.socket._pop_ack_callback(packet["ackId"])
        if callback is None:
            log.info("%s: ack for unknown id %s", self.ns_name, packet["ackId"])
            return None
        return callback(*packet["args"])

    def process_event(self, packet: dict[str, Any]) -> Any:
        """Dispatch an ``event`` packet to ``on_<name>`` (spaces become ``_``).

        Override it to dispatch events your own way.
        """
        name = packet.get("name")
        args = packet.get("args", [])
        if not isinstance(name, str) or not allowed_event_name_regex.match(name):
            self.error("unallowed_event_name", "name must only contains alpha numerical characters")
            return None
        method_name = "on_" + name.replace(" ", "_")
        return self.call_method_with_acl(method_name, packet, *args)

    def call_method_with_acl(self, method_name: str, packet: dict[str, Any], *args: Any) -> Any:
        """Call ``method_name`` if the ACL allows it; else send ``method_access_denied``."""
        if not self.is_method_allowed(method_name):
            self.error("method_access_denied", f'You do not have access to method "{method_name}"')
            return None
        return self.call_method(method_name, packet, *args)

    def call_method(self, method_name: str, packet: dict[str, Any], *args: Any) -> Any:
        """Call ``method_name`` with ``args``, or with the whole packet.

        A method whose only parameter after ``self`` is named ``packet``
        receives the packet dict. Errors reported to the client:
        ``no_such_method`` and ``invalid_method_args``.
        """
        method = getattr(self, method_name, None)
        if method is None:
            self.error("no_such_method", f'The method "{method_name}" was not found')
            return None
        takes_packet = _handler_shape(method)
        if takes_packet is None:
            self.error(
                "invalid_method_args",
                "The server-side method is invalid, as it doesn't have 'self' as its first argument",
            )
            return None
        decorator = getattr(self, "exception_handler_decorator", None)
        if decorator is not None:
            method = decorator(method)
        if takes_packet:
            return method(packet)
        return method(*args)

    def recv_connect(self) -> Any:
        """Called on a ``connect`` packet (not sent for the global namespace)."""

    def recv_message(self, data: str) -> Any:
        """Called on a ``message`` packet (``socket.send('…')``); returns ``data``."""
        return data

    def recv_json(self, data: Any) -> Any:
        """Called on a ``json`` packet (``socket.json.send(…)``); returns ``data``."""
        return data

    def recv_error(self, packet: dict[str, Any]) -> Any:
        """Called on an ``error`` packet from the client."""

    def recv_disconnect(self) -> Any:
        """Called when the client leaves this namespace or the socket ends.

        The default disconnects silently; an override should call
        ``self.disconnect(silent=True)`` too (the socket finishes it if not).
        """
        self.disconnect(silent=True)

    # -- outgoing -----------------------------------------------------------

    def error(
        self, error_name: str, error_message: str, msg_id: Optional[int] = None, quiet: bool = False
    ) -> Any:
        """Report an error to the client on this namespace (see :meth:`Socket.error`)."""
        return self.socket.error(
            error_name, error_message, endpoint=self.ns_name, msg_id=msg_id, quiet=quiet
        )

    def send(self, message: Any, json: bool = False, callback: Optional[Callable] = None) -> None:
        """Send a ``message`` packet (or a ``json`` one when ``json`` is true).

        With ``callback``, the client acknowledges automatically and
        ``callback()`` runs when the ack arrives.
        """
        pkt: dict[str, Any] = {
            "type": "json" if json else "message",
            "data": message,
            "endpoint": self.ns_name,
        }
        if callback is not None:
            pkt["ack"] = True
            pkt["id"] = msgid = self.socket._get_next_msgid()
            self.socket._save_ack_callback(msgid, callback)
        self.socket.send_packet(pkt)

    def emit(
        self, event: str, *args: Any, callback: Optional[Callable] = None, **kwargs: Any
    ) -> None:
        """Send event ``event`` with positional ``args`` to this client.

        ``callback``, if given, is called with the client's ack arguments.

        Raises:
            ValueError: any other keyword argument (events carry positional args only).
        """
        if kwargs:
            raise ConfigError(
                "emit() only supports positional argument, to stay compatible "
                "with the Socket.IO protocol. You can however pass in a "
                "dictionary as the first argument"
            )
        pkt: dict[str, Any] = {
            "type": "event",
            "name": event,
            "args": list(args),
            "endpoint": self.ns_name,
        }
        if callback is not None:
            pkt["ack"] = "data"
            pkt["id"] = msgid = self.socket._get_next_msgid()
            self.socket._save_ack_callback(msgid, callback)
        self.socket.send_packet(pkt)

    def disconnect(self, silent: bool = False) -> None:
        """Leave this namespace: tell the client (unless ``silent``), drop it, kill its jobs."""
        if not silent:
            self.socket.send_packet({"type": "disconnect", "endpoint": self.ns_name})
        try:
            self.socket.remove_namespace(self.ns_name)
        finally:
            self.kill_local_jobs()

    # -- jobs ---------------------------------------------------------------

    def spawn(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet:
        """Run ``fn`` in a greenlet killed with this namespace.

        ``exception_handler_decorator``, when defined, wraps ``fn``.
        """
        decorator = getattr(self, "exception_handler_decorator", None)
        if decorator is not None:
            fn = decorator(fn)
        job = gevent.spawn(fn, *args, **kwargs)
        self.jobs.append(job)
        return job

    def kill_local_jobs(self) -> None:
        """Kill the greenlets started with :meth:`spawn` (not the current one)."""
        current = gevent.getcurrent()
        jobs = [job for job in self.jobs if job is not current]
        self.jobs = []
        if jobs:
            gevent.killall(jobs, block=False)


_PACKET_HANDLERS: dict[str, Callable[[BaseNamespace, dict[str, Any]], Any]] = {
    "event": lambda ns, pkt: ns.process_event(pkt),
    "message": lambda ns, pkt: ns.call_method_with_acl("recv_message", pkt, pkt["data"]),
    "json": lambda ns, pkt: ns.call_method_with_acl("recv_json", pkt, pkt["data"]),
    "connect": lambda ns, pkt: ns._process_connect(pkt),
    "error": lambda ns, pkt: ns.call_method_with_acl("recv_error", pkt),
    "ack": lambda ns, pkt: ns._process_ack(pkt),
    "disconnect": lambda ns, pkt: ns.call_method_with_acl("recv_disconnect", pkt),
}
