"""Namespaces: the application's side of one endpoint of a virtual socket.

Subclass :class:`BaseNamespace` and define ``on_<event>`` methods for client
events and ``recv_*`` methods for the other packet types. An instance is made
for a socket when the first packet for its endpoint arrives.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

import gevent

from .exceptions import AckTimeout, ACLError, ConfigError
from .listing import ListingMixin
from .peerlog import clip
from .runtime import memo
from .seams import session_logs

if TYPE_CHECKING:  # pragma: no cover
    from .virtsocket import Socket

__all__ = ["BaseNamespace", "allowed_event_name_regex"]

log = logging.getLogger(__name__)

#: client mistakes that get no error packet: one line per kind every ten seconds

allowed_event_name_regex = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*$")

_NO_SUCH_ACL = (
    "Trying to delete an ACL method, but none were defined yet! "
    "Or: No ACL restrictions yet, why would you delete one?"
)


#: (takes the packet, fewest arguments, most arguments) after ``self``
Shape = tuple[bool, int, int]

#: the shape of a handler whose number of arguments is not known
_ANY_ARGS = (False, 0, sys.maxsize)


def _handler_shape(method: Callable[..., Any]) -> Optional[Shape]:
    """How ``method`` takes an event, read from its ``def``.

    ``None`` if it cannot be a handler (its first parameter is not ``self``,
    or its signature cannot be read), else ``(takes_packet, least, most)``:
    ``takes_packet`` is true if its only parameter after ``self`` is named
    ``packet`` (it takes the packet dict), else it takes the event's
    arguments, of which it accepts ``least`` to ``most`` (``sys.maxsize``
    with ``*args``, or when the function's own ``def`` cannot be read).
    """
    func = getattr(method, "__func__", method)
    try:
        return _function_shape(func)
    except TypeError:  # an unhashable callable: read it every time
        return _read_shape(func)


def _read_shape(func: Callable[..., Any]) -> Optional[Shape]:
    try:
        params = tuple(inspect.signature(func, follow_wrapped=True).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params or not (
        params[0].name == "self" or params[0].kind is inspect.Parameter.VAR_POSITIONAL
    ):
        return None
    if len(params) == 2 and params[1].name == "packet":
        return (True, 1, 1)
    if params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return _ANY_ARGS
    least, most = _arity(func)
    return (False, max(0, least - 1), most - 1 if most != sys.maxsize else most)


def _arity(func: Callable[..., Any]) -> tuple[int, int]:
    """How many positional arguments ``func`` itself takes: ``(least, most)``.

    Read from the outermost function, not through ``__wrapped__``: a
    decorator's wrapper may take other arguments than the function it wraps.
    ``(0, sys.maxsize)`` when that is not known (no Python ``def``, or a
    keyword-only parameter without a default: no positional call fits it,
    and calling it tells the application so).
    """
    code = getattr(func, "__code__", None)
    if code is None or not isinstance(getattr(func, "__defaults__", None), (tuple, type(None))):
        return (0, sys.maxsize)
    kwdefaults = getattr(func, "__kwdefaults__", None) or {}
    if code.co_kwonlyargcount > len(kwdefaults):
        return (0, sys.maxsize)
    most = code.co_argcount
    least = most - len(func.__defaults__ or ())
    if code.co_flags & inspect.CO_VARARGS:
        most = sys.maxsize
    return (least, most)


def _count(n: int) -> str:
    return f"{n} argument" if n == 1 else f"{n} arguments"


def _takes(least: int, most: int) -> str:
    """``'takes 2 arguments'``, ``'takes 1 to 2 arguments'``, ``'takes at least 1 argument'``."""
    if most == sys.maxsize:
        return f"takes at least {_count(least)}"
    if least == most:
        return f"takes {_count(least)}"
    return f"takes {least} to {_count(most)}"


# inspect.signature costs microseconds on every event; a handler's function
# does not change, so how it is called is read once (bounded, by function).
_function_shape = memo(4096)(_read_shape)


class BaseNamespace(ListingMixin):
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
        authorize_connect: opt-in namespace authorization, the reference
            server's ``of('/x').authorization(fn)``: ``None`` (the default)
            lets every client in; else a callable ``(environ, query) -> bool``
            (give it as a ``staticmethod`` or ``classmethod``: no instance
            exists yet) consulted when a client enters the namespace, with the
            socket's WSGI environ and the connect packet's query string (the
            text after ``1::/x:``, ``''`` when there is none; the 0.9.16
            client puts its ``?query`` on its HTTP requests instead, so it is
            in ``environ['QUERY_STRING']``). A false result answers
            ``7::/x:2`` (error, reason unauthorized, no advice), on which the
            0.9.16 client's namespace emits ``connect_failed`` with
            ``'unauthorized'``; the connect is not echoed, the namespace not
            created, the socket and its other namespaces live on. Any packet
            to a namespace the client has not entered is checked the same
            way, so skipping the connect gets no further.
    """

    # A class attribute, not a method: it is consulted before any instance exists.
    authorize_connect: ClassVar[Optional[Callable[[dict[str, Any], str], Any]]] = None

    def __init__(self, environ: dict[str, Any], ns_name: str, request: Any = None) -> None:
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
            session_logs(getattr(self.socket, "server", None)).namespace_packets(
                "unprocessed-packet",
                "%s: unprocessed packet of type %s",
                self.ns_name,
                packet["type"],
            )
            return None
        return handler(self, packet)

    def _process_connect(self, packet: dict[str, Any]) -> Any:
        self.socket.send_packet(packet)
        return self.call_method_with_acl("recv_connect", packet)

    def _process_ack(self, packet: dict[str, Any]) -> Any:
        ack_id = packet["ackId"]
        callback = self.socket._pop_ack_callback(ack_id)
        if callback is None:
            session_logs(getattr(self.socket, "server", None)).namespace_packets(
                "unknown-ack",
                "%s: %s: ack for unknown id %s",
                self.socket.sessid,
                self.ns_name,
                clip(str(ack_id), 20),
            )
            return None
        args = packet["args"]
        least, most = _arity(getattr(callback, "__func__", callback))
        if hasattr(callback, "__self__") and hasattr(callback, "__func__"):  # a bound method
            least, most = max(0, least - 1), most - 1 if most != sys.maxsize else most
        if not least <= len(args) <= most:
            self.error(
                "invalid_ack_args",
                f"The callback of message {ack_id} {_takes(least, most)}, not {len(args)}",
            )
            return None
        return callback(*args)

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
            self.error(
                "method_access_denied", f'You do not have access to method "{clip(method_name)}"'
            )
            return None
        return self.call_method(method_name, packet, *args)

    def call_method(self, method_name: str, packet: dict[str, Any], *args: Any) -> Any:
        """Call ``method_name`` with ``args``, or with the whole packet.

        A method whose only parameter after ``self`` is named ``packet``
        receives the packet dict. Errors reported to the client:
        ``no_such_method``, ``invalid_method_args`` and, for an event whose
        number of arguments the method does not take (the client's mistake,
        not the application's: the method is not called),
        ``invalid_event_args``.
        """
        method = getattr(self, method_name, None)
        if method is None:
            self.error("no_such_method", f'The method "{clip(method_name)}" was not found')
            return None
        shape = _handler_shape(method)
        if shape is None:
            self.error(
                "invalid_method_args",
                "The server-side method is invalid, as it doesn't have 'self' as its first argument",
            )
            return None
        takes_packet, least, most = shape
        if not takes_packet and not least <= len(args) <= most and packet.get("type") == "event":
            self.error(
                "invalid_event_args",
                f'The method "{clip(method_name)}" {_takes(least, most)}, not {len(args)}',
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

    def send(
        self,
        message: Any,
        json: bool = False,
        callback: Optional[Callable[..., Any]] = None,
        *,
        ack_timeout: Optional[float] = None,
        on_timeout: Optional[Callable[[AckTimeout], Any]] = None,
        volatile: bool = False,
    ) -> None:
        """Send a ``message`` packet (or a ``json`` one when ``json`` is true).

        With ``callback``, the client acknowledges automatically and
        ``callback()`` runs when the ack arrives; ``ack_timeout`` and
        ``on_timeout`` bound the wait as for :meth:`emit` (the
        :class:`~socketio.exceptions.AckTimeout`'s ``event`` is then
        ``"message"`` or ``"json"``). With ``volatile``, the packet is
        dropped if the client cannot take it now (see :meth:`emit`).

        Raises:
            ValueError: ``ack_timeout``/``on_timeout`` without a ``callback``,
                an ``ack_timeout`` that is not a positive number, or
                ``volatile`` with a ``callback``.
        """
        if ack_timeout is not None or on_timeout is not None:
            _check_ack_timeout(callback, ack_timeout, on_timeout)
        kind = "json" if json else "message"
        pkt: dict[str, Any] = {"type": kind, "data": message, "endpoint": self.ns_name}
        if volatile:
            _send_volatile(self.socket, pkt, callback)
            return
        if callback is not None:
            pkt["ack"] = True
            pkt["id"] = self._save_ack(callback, kind, ack_timeout, on_timeout)
        self.socket.send_packet(pkt)

    def emit(
        self,
        event: str,
        *args: Any,
        callback: Optional[Callable[..., Any]] = None,
        ack_timeout: Optional[float] = None,
        on_timeout: Optional[Callable[[AckTimeout], Any]] = None,
        volatile: bool = False,
        **kwargs: Any,
    ) -> None:
        """Send event ``event`` with positional ``args`` to this client.

        ``callback``, if given, is called with the client's ack arguments.
        Without ``ack_timeout`` it waits for the ack as long as the session
        lives (as in 0.3). With ``ack_timeout`` (seconds), if no ack came by
        then, ``on_timeout`` (by default ``callback`` itself) is called once
        with an :class:`~socketio.exceptions.AckTimeout`, and a late ack is
        ignored. Either way a session ending drops its pending acks without
        calling anything. A session waits for ``max_pending_acks`` acks at
        most (:class:`~socketio.config.Config`); see ``docs/beyond``.

        With ``volatile`` (the reference server's ``socket.volatile.emit``),
        the packet is sent only if the client can take it now, and dropped
        otherwise: see :meth:`~socketio.outbox.Outbox.put_volatile_msg`.
        It takes no ``callback``: an ack for a packet that may be dropped
        would never come.

        Raises:
            ValueError: any other keyword argument (events carry positional
                args only), or ``ack_timeout``/``on_timeout`` without a
                ``callback``, or an ``ack_timeout`` that is not a positive number,
                or ``volatile`` with a ``callback``.
        """
        if kwargs:
            raise ConfigError(
                "emit() only supports positional argument, to stay compatible "
                "with the Socket.IO protocol. You can however pass in a "
                "dictionary as the first argument"
            )
        if ack_timeout is not None or on_timeout is not None:
            _check_ack_timeout(callback, ack_timeout, on_timeout)
        pkt: dict[str, Any] = {
            "type": "event",
            "name": event,
            "args": list(args),
            "endpoint": self.ns_name,
        }
        if volatile:
            _send_volatile(self.socket, pkt, callback)
            return
        if callback is not None:
            pkt["ack"] = "data"
            pkt["id"] = self._save_ack(callback, event, ack_timeout, on_timeout)
        self.socket.send_packet(pkt)

    def _save_ack(
        self,
        callback: Callable[..., Any],
        event: str,
        ack_timeout: Optional[float],
        on_timeout: Optional[Callable[[AckTimeout], Any]],
    ) -> int:
        """A new packet id, with ``callback`` waiting for its ack (and its timeout, if any)."""
        socket = self.socket
        msgid = socket._get_next_msgid()
        socket._save_ack_callback(msgid, callback)
        if ack_timeout is not None:
            socket.save_ack_timeout(msgid, event, ack_timeout, on_timeout or callback)
        return msgid

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


def _check_ack_timeout(
    callback: Optional[Callable[..., Any]],
    ack_timeout: Optional[float],
    on_timeout: Optional[Callable[[AckTimeout], Any]],
) -> None:
    """Refuse an ``ack_timeout``/``on_timeout`` that cannot be honoured (see ``emit``)."""
    if callback is None:
        raise ConfigError("ack_timeout and on_timeout need a callback")
    if on_timeout is not None and ack_timeout is None:
        raise ConfigError("on_timeout needs an ack_timeout")
    if (
        isinstance(ack_timeout, bool)
        or not isinstance(ack_timeout, (int, float))
        or not (ack_timeout > 0 and math.isfinite(ack_timeout))
    ):
        raise ConfigError(f"ack_timeout must be a positive number, not {ack_timeout!r}")


def _send_volatile(
    socket: Socket, pkt: dict[str, Any], callback: Optional[Callable[..., Any]]
) -> None:
    if callback is not None:
        raise ConfigError(
            f"a volatile {pkt['type']} takes no callback: a dropped packet is never acked"
        )
    socket.send_volatile_packet(pkt)


_PACKET_HANDLERS: dict[str, Callable[[BaseNamespace, dict[str, Any]], Any]] = {
    "event": lambda ns, pkt: ns.process_event(pkt),
    "message": lambda ns, pkt: ns.call_method_with_acl("recv_message", pkt, pkt["data"]),
    "json": lambda ns, pkt: ns.call_method_with_acl("recv_json", pkt, pkt["data"]),
    "connect": lambda ns, pkt: ns._process_connect(pkt),
    "error": lambda ns, pkt: ns.call_method_with_acl("recv_error", pkt),
    "ack": lambda ns, pkt: ns._process_ack(pkt),
    "disconnect": lambda ns, pkt: ns.call_method_with_acl("recv_disconnect", pkt),
}
