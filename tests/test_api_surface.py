"""Every module and name of the drop-in contract (``docs/contract/api.md``) exists.

Each has the signature api.md gives (or, where it gives none, the original 0.3 one).

Signatures are compared with :func:`inspect.signature`: each expected parameter
must be there, in order, with the same name, kind of passing and default. The
implementation may add trailing parameters that have defaults (an extension old
callers never pass); ``*args``/``**kwargs`` match whatever they are called.
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import sys
from typing import Any

import pytest

API_MD = pathlib.Path(__file__).resolve().parents[1] / "docs" / "contract" / "api.md"

E = inspect.Parameter.empty
VAR = "*"  # marks *args
KW = "**"  # marks **kwargs


def P(name: str, default: Any = E, kind: str = "") -> tuple[str, Any, str]:
    return (name, default, kind)


#: module → {name: expected parameters (None: no signature check)}
#: Methods are "Class.method"; their ``self`` is left out.
CONTRACT: dict[str, dict[str, list | None]] = {
    "socketio": {
        "socketio_manage": [
            P("environ"),
            P("namespaces"),
            P("request", None),
            P("error_handler", None),
            P("json_loads", None),
            P("json_dumps", None),
        ],
        "__version__": None,
    },
    "socketio.packet": {
        "encode": [P("data"), P("json_dumps", "default_json_dumps")],
        "decode": [P("rawstr"), P("json_loads", "default_json_loads")],
        "MSG_TYPES": None,
        "MSG_VALUES": None,
        "ERROR_REASONS": None,
        "REASONS_VALUES": None,
        "ERROR_ADVICES": None,
        "ADVICES_VALUES": None,
    },
    "socketio.defaultjson": {
        "default_json_dumps": [P("data")],
        "default_json_loads": [P("s")],
    },
    "socketio.virtsocket": {
        "default_error_handler": [
            P("socket"),
            P("error_name"),
            P("error_message"),
            P("endpoint"),
            P("msg_id"),
            P("quiet"),
        ],
        "Socket": [P("server"), P("config"), P("error_handler", None)],
        "Socket._set_namespaces": [P("namespaces")],
        "Socket._set_request": [P("request")],
        "Socket._set_environ": [P("environ")],
        "Socket._set_error_handler": [P("error_handler")],
        "Socket._set_json_loads": [P("json_loads")],
        "Socket._set_json_dumps": [P("json_dumps")],
        "Socket._get_next_msgid": [],
        "Socket._save_ack_callback": [P("msgid"), P("callback")],
        "Socket._pop_ack_callback": [P("msgid")],
        # api.md writes ``__getitem__(ns_name)`` and ``remove_namespace(ns_name)``;
        # the original named the parameters ``key`` and ``namespace``: see
        # RENAMED_PARAMETERS below.
        "Socket.__getitem__": [P("key")],
        "Socket.incr_hits": [],
        "Socket.heartbeat": [],
        "Socket.kill": [P("detach", False)],
        "Socket.detach": [],
        "Socket.put_server_msg": [P("msg")],
        "Socket.put_client_msg": [P("msg")],
        "Socket.get_client_msg": [P("kwargs", kind=KW)],
        "Socket.get_server_msg": [P("kwargs", kind=KW)],
        "Socket.get_multiple_client_msgs": [P("kwargs", kind=KW)],
        "Socket.error": [
            P("error_name"),
            P("error_message"),
            P("endpoint", None),
            P("msg_id", None),
            P("quiet", False),
        ],
        "Socket.disconnect": [P("silent", False)],
        "Socket.remove_namespace": [P("namespace")],
        "Socket.send_packet": [P("pkt")],
        "Socket.spawn": [P("fn"), P("args", kind=VAR), P("kwargs", kind=KW)],
        "Socket._spawn_receiver_loop": [],
        "Socket._spawn_heartbeat": [],
        "Socket._spawn_watcher": [],
    },
    "socketio.namespace": {
        "BaseNamespace": [P("environ"), P("ns_name"), P("request", None)],
        "BaseNamespace.initialize": [],
        "BaseNamespace.recv_connect": [],
        "BaseNamespace.recv_message": [P("data")],
        "BaseNamespace.recv_json": [P("data")],
        "BaseNamespace.recv_error": [P("packet")],
        "BaseNamespace.recv_disconnect": [],
        "BaseNamespace.process_packet": [P("packet")],
        "BaseNamespace.process_event": [P("packet")],
        "BaseNamespace.call_method_with_acl": [P("method_name"), P("packet"), P("args", kind=VAR)],
        "BaseNamespace.call_method": [P("method_name"), P("packet"), P("args", kind=VAR)],
        # api.md: emit(event, *args, callback=None); any other keyword lands in
        # **kwargs and raises ValueError (tested in tests/unit/test_namespace.py).
        "BaseNamespace.emit": [P("event"), P("args", kind=VAR), P("callback", None)],
        "BaseNamespace.send": [P("message"), P("json", False), P("callback", None)],
        "BaseNamespace.error": [
            P("error_name"),
            P("error_message"),
            P("msg_id", None),
            P("quiet", False),
        ],
        "BaseNamespace.disconnect": [P("silent", False)],
        "BaseNamespace.spawn": [P("fn"), P("args", kind=VAR), P("kwargs", kind=KW)],
        "BaseNamespace.kill_local_jobs": [],
        "BaseNamespace.get_initial_acl": [],
        "BaseNamespace.add_acl_method": [P("method_name")],
        "BaseNamespace.del_acl_method": [P("method_name")],
        "BaseNamespace.lift_acl_restrictions": [],
        "BaseNamespace.reset_acl": [],
        "BaseNamespace.is_method_allowed": [P("method_name")],
    },
    "socketio.mixins": {
        "RoomsMixin.join": [P("room")],
        "RoomsMixin.leave": [P("room")],
        "RoomsMixin.emit_to_room": [P("room"), P("event"), P("args", kind=VAR)],
        "BroadcastMixin.broadcast_event": [P("event"), P("args", kind=VAR)],
        "BroadcastMixin.broadcast_event_not_me": [P("event"), P("args", kind=VAR)],
    },
    "socketio.transports": {
        "BaseTransport": [P("handler"), P("config")],
        **{
            f"{cls}.do_exchange": [P("socket"), P("request_method")]
            for cls in (
                "BaseTransport",
                "XHRPollingTransport",
                "JSONPolling",
                "XHRMultipartTransport",
                "HTMLFileTransport",
                "WebsocketTransport",
                "FlashSocketTransport",
            )
        },
        **{
            f"{cls}.{meth}": [P(arg)]
            for cls in (
                "XHRPollingTransport",
                "JSONPolling",
                "XHRMultipartTransport",
                "HTMLFileTransport",
            )
            for meth, arg in (("encode_payload", "messages"), ("decode_payload", "payload"))
        },
    },
    "socketio.handler": {
        "SocketIOHandler": [P("config"), P("sock"), P("address"), P("server")],
        "SocketIOHandler.handle_one_response": [],
        "SocketIOHandler.handle_bad_request": None,
        "SocketIOHandler.handler_types": None,
    },
    "socketio.server": {
        # The original's __init__ was (*args, **kwargs); its keywords are
        # checked by behaviour in test_socketio_server_keywords.
        "SocketIOServer": None,
        "SocketIOServer.get_socket": [P("sessid", "")],
        "SocketIOServer.start_accepting": [],
        "SocketIOServer.stop": None,
        "SocketIOServer.handle": [P("socket"), P("address")],
        "serve": [P("app"), P("kw", kind=KW)],
        "serve_paste": [P("app"), P("global_conf"), P("kw", kind=KW)],
    },
    "socketio.policyserver": {
        "FlashPolicyServer": [P("listener", None), P("backlog", None)],
    },
    "socketio.sgunicorn": {
        "GeventSocketIOWorker": None,
        "NginxGeventSocketIOWorker": None,
    },
    "socketio.sdjango": {
        "autodiscover": [],
        "namespace": None,
        "SOCKETIO_NS": None,
        "socketio": [P("request")],
        "urls": None,
    },
}

#: (qualified name, parameter names in api.md, names in the original 0.3 and here)
RENAMED_PARAMETERS = [
    ("socketio.virtsocket.Socket.__getitem__", ["ns_name"], ["key"]),
    ("socketio.virtsocket.Socket.remove_namespace", ["ns_name"], ["namespace"]),
]

_KINDS = {
    VAR: inspect.Parameter.VAR_POSITIONAL,
    KW: inspect.Parameter.VAR_KEYWORD,
}


def _resolve(module_name: str, name: str) -> Any:
    obj: Any = importlib.import_module(module_name)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _default_of(expected: Any, module_name: str) -> Any:
    if isinstance(expected, str) and expected.startswith("default_json_"):
        from socketio import defaultjson

        return getattr(defaultjson, expected)
    return expected


def _check_signature(obj: Any, expected: list, module_name: str) -> None:
    if inspect.isclass(obj):
        sig = inspect.signature(obj.__init__)
    else:
        sig = inspect.signature(obj)
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    # expected parameters, in order
    actual_named = [p for p in params]
    for i, (name, default, kind) in enumerate(expected):
        assert i < len(actual_named), f"missing parameter {name!r} in {sig}"
        param = actual_named[i]
        if kind:
            assert param.kind is _KINDS[kind], f"{name!r} should be {kind}{name} in {sig}"
            continue
        assert param.name == name, f"parameter {i} is {param.name!r}, expected {name!r}: {sig}"
        assert param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        ), f"{name!r} cannot be passed by name: {sig}"
        want = _default_of(default, module_name)
        if want is E:
            assert param.default is E, f"{name!r} should have no default: {sig}"
        else:
            assert param.default is not E, f"{name!r} should default to {want!r}: {sig}"
            assert param.default == want, f"{name!r} defaults to {param.default!r}: {sig}"
    # anything added must be optional
    for param in actual_named[len(expected) :]:
        assert (
            param.kind
            in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            )
            or param.default is not E
        ), f"extra required parameter {param.name!r}: {sig}"


CASES = [(module, name) for module, names in CONTRACT.items() for name in names]


@pytest.mark.parametrize(("module_name", "name"), CASES, ids=[f"{m}:{n}" for m, n in CASES])
def test_name_exists_with_signature(module_name, name):
    obj = _resolve(module_name, name)
    expected = CONTRACT[module_name][name]
    if expected is not None:
        _check_signature(obj, expected, module_name)


@pytest.mark.parametrize(("qualname", "documented", "actual"), RENAMED_PARAMETERS)
def test_parameters_named_as_the_original(qualname, documented, actual):
    """api.md's names for these two are descriptive; callers pass them positionally."""
    module_name, _, attr = qualname.rpartition(".Socket.")
    method = getattr(importlib.import_module(module_name).Socket, attr)
    params = list(inspect.signature(method).parameters)[1:]
    assert params == actual
    assert len(params) == len(documented)


def test_contract_covers_every_module_of_api_md():
    text = API_MD.read_text()
    modules = set(re.findall(r"^## `(socketio(?:\.\w+)?)`", text, re.MULTILINE))
    assert modules, "api.md has no module headings"
    assert modules == set(CONTRACT)


def test_version_is_a_tuple():
    import socketio

    assert isinstance(socketio.__version__, tuple)
    assert socketio.__version__ >= (0, 3)


def test_packet_constants():
    from socketio import packet

    assert packet.MSG_TYPES == {
        "disconnect": 0,
        "connect": 1,
        "heartbeat": 2,
        "message": 3,
        "json": 4,
        "event": 5,
        "ack": 6,
        "error": 7,
        "noop": 8,
    }
    assert packet.MSG_VALUES == {v: k for k, v in packet.MSG_TYPES.items()}
    assert packet.ERROR_REASONS == {
        "transport not supported": 0,
        "client not handshaken": 1,
        "unauthorized": 2,
    }
    assert packet.REASONS_VALUES == {v: k for k, v in packet.ERROR_REASONS.items()}
    assert packet.ERROR_ADVICES == {"reconnect": 0}
    assert packet.ADVICES_VALUES == {0: "reconnect"}


def test_socket_constants_and_attributes():
    from socketio.virtsocket import Socket

    assert (
        Socket.STATE_CONNECTING,
        Socket.STATE_CONNECTED,
        Socket.STATE_DISCONNECTING,
        Socket.STATE_DISCONNECTED,
    ) == ("CONNECTING", "CONNECTED", "DISCONNECTING", "DISCONNECTED")
    assert Socket.GLOBAL_NS == ""

    class Server:
        sockets: dict = {}

    socket = Socket(Server(), {})
    for attr in (
        "server sessid session client_queue server_queue hits heartbeats state "
        "connection_established ack_callbacks ack_counter request environ namespaces "
        "active_ns jobs error_handler config json_loads json_dumps"
    ).split():
        assert hasattr(socket, attr), attr
    assert isinstance(type(socket).connected, property)
    assert socket.state == "NEW"


def test_namespace_attributes():
    from socketio.namespace import BaseNamespace
    from socketio.virtsocket import Socket

    class Server:
        sockets: dict = {}

    socket = Socket(Server(), {})
    ns = BaseNamespace({"socketio": socket}, "/x", request="r")
    for attr in ("environ", "socket", "session", "request", "ns_name", "allowed_methods", "jobs"):
        assert hasattr(ns, attr), attr
    assert ns.socket is socket


def test_handler_types_and_base_class():
    import gevent.pywsgi

    from socketio import transports
    from socketio.handler import SocketIOHandler

    assert issubclass(SocketIOHandler, gevent.pywsgi.WSGIHandler)
    assert SocketIOHandler.handler_types == {
        "websocket": transports.WebsocketTransport,
        "flashsocket": transports.FlashSocketTransport,
        "htmlfile": transports.HTMLFileTransport,
        "xhr-multipart": transports.XHRMultipartTransport,
        "xhr-polling": transports.XHRPollingTransport,
        "jsonp-polling": transports.JSONPolling,
    }


def test_socketio_server_keywords():
    from socketio.server import SocketIOServer

    def app(environ, start_response):
        raise AssertionError

    server = SocketIOServer(
        ("127.0.0.1", 0),
        app,
        resource="rt",
        transports=["xhr-polling", "websocket"],
        policy_server=False,
        policy_listener=("127.0.0.1", 10999),
        heartbeat_interval=5,
        heartbeat_timeout=15,
        close_timeout=20,
        log_file=None,
    )
    assert server.resource == "rt"
    assert list(server.transports) == ["xhr-polling", "websocket"]
    assert server.config["heartbeat_interval"] == 5
    assert server.config["heartbeat_timeout"] == 15
    assert server.config["close_timeout"] == 20
    assert server.sockets == {}
    assert server.policy_server is None
    assert server.application is app

    # the deprecated namespace= keyword means resource; a policy server by default
    legacy = SocketIOServer(("127.0.0.1", 0), app, namespace="legacy")
    assert legacy.resource == "legacy"
    assert legacy.policy_server is not None
    assert tuple(legacy.policy_server.address)[1] == 10843

    socket = server.get_socket()
    assert server.get_socket(socket.sessid) is socket
    assert server.get_socket("nope") is None
    socket.kill(detach=True)


def test_policy_server_defaults():
    from gevent.server import StreamServer

    from socketio.policyserver import FlashPolicyServer

    assert issubclass(FlashPolicyServer, StreamServer)
    server = FlashPolicyServer()
    assert tuple(server.address) == ("0.0.0.0", 10843)


def test_sgunicorn_workers():
    from gunicorn.workers.ggevent import GeventPyWSGIWorker

    from socketio import sgunicorn

    assert issubclass(sgunicorn.GeventSocketIOWorker, GeventPyWSGIWorker)
    assert issubclass(sgunicorn.NginxGeventSocketIOWorker, GeventPyWSGIWorker)


def test_sdjango_registry():
    from socketio import sdjango

    @sdjango.namespace("/api-surface-test")
    class NS:
        pass

    try:
        assert sdjango.SOCKETIO_NS["/api-surface-test"] is NS
    finally:
        del sdjango.SOCKETIO_NS["/api-surface-test"]


def _library_exception_classes() -> list[type]:
    classes = {}
    for path in sorted((pathlib.Path(__file__).resolve().parents[1] / "socketio").glob("*.py")):
        name = "socketio" if path.stem == "__init__" else f"socketio.{path.stem}"
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("socketio")
            ):
                classes[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [classes[k] for k in sorted(classes)]


def test_every_library_exception_has_message():
    classes = _library_exception_classes()
    names = {c.__name__ for c in classes}
    assert {"SocketIOError", "PacketError", "PayloadError", "ConfigError"} <= names
    for cls in classes:
        exc = cls("what went wrong")
        assert exc.message == "what went wrong", cls
        assert str(exc) == "what went wrong", cls


def test_raised_exceptions_carry_message():
    from socketio import packet
    from socketio.namespace import BaseNamespace
    from socketio.virtsocket import Socket

    with pytest.raises(ValueError, match="Unknown message type") as info:
        packet.decode("99::")
    assert info.value.message == "Unknown message type: 99"

    class Server:
        sockets: dict = {}

    ns = BaseNamespace({"socketio": Socket(Server(), {})}, "")
    with pytest.raises(ValueError, match="positional argument") as info:
        ns.emit("x", bogus=1)
    assert info.value.message


def test_pure_modules_do_not_import_gevent():
    import subprocess

    code = (
        "import sys, socketio, socketio.packet, socketio.payload, socketio.protocol, "
        "socketio.config, socketio.defaultjson, socketio.exceptions; "
        "print('gevent' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
