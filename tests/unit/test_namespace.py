"""``socketio.namespace.BaseNamespace``: the contract of api.md and namespace.rst.

No network: a :class:`~socketio.virtsocket.Socket` on a fake server, with
packets fed to its receiver loop as a transport would, and the packets queued
for the client read back as wire strings.
"""

from __future__ import annotations

import re

import gevent
import pytest

from socketio.namespace import BaseNamespace

from .fake_server import error_event, feed, make_socket, sent, wait_until

ACL_MESSAGE = (
    "Trying to delete an ACL method, but none were defined yet! "
    "Or: No ACL restrictions yet, why would you delete one?"
)


class Recording(BaseNamespace):
    """Records what reached it in ``calls``."""

    def initialize(self):
        self.calls = []

    def on_my_event(self, a, b):
        self.calls.append(("my_event", a, b))

    def on_noargs(self):
        self.calls.append(("noargs",))

    def on_varargs(self, *args):
        self.calls.append(("varargs", *args))
        return args

    def on_raw(self, packet):
        self.calls.append(("raw", packet))
        return packet["name"]

    def on_two(self, packet, other):
        """Two parameters: ``packet`` is then an ordinary argument."""
        self.calls.append(("two", packet, other))

    def on_pair(self):
        return (1, "a")

    def on_list(self):
        return [1, 2]

    def on_none(self):
        return None

    @staticmethod
    def on_static(a):
        return a

    @staticmethod
    def on_static_empty():
        return 1


def make_ns(cls=Recording, endpoint="/ns", **socket_kw):
    """A socket with ``cls`` at ``endpoint``, instantiated by a connect packet."""
    socket = make_socket({endpoint: cls}, **socket_kw)
    feed(socket, f"1::{endpoint}")
    assert sent(socket) == [f"1::{endpoint}"]
    return socket, socket[endpoint]


# -- dispatch ----------------------------------------------------------------


def test_event_dispatch_spaces_become_underscores():
    socket, ns = make_ns()
    feed(socket, '5::/ns:{"name":"my event","args":[1,"x"]}', '5::/ns:{"name":"noargs"}')
    assert ns.calls == [("my_event", 1, "x"), ("noargs",)]
    assert sent(socket) == []


def test_process_event_direct_call_returns_handler_value():
    _socket, ns = make_ns()
    pkt = {"type": "event", "name": "varargs", "args": [1, 2], "endpoint": "/ns"}
    assert ns.process_packet(pkt) == (1, 2)
    assert ns.process_event(pkt) == (1, 2)
    assert ns.call_method_with_acl("on_varargs", pkt, 3) == (3,)
    assert ns.call_method("on_varargs", pkt) == ()


def test_packet_parameter_convention():
    socket, ns = make_ns()
    feed(socket, '5:1+:/ns:{"name":"raw","args":[1,2]}')
    kind, pkt = ns.calls[0]
    assert kind == "raw"
    assert pkt == {
        "type": "event",
        "name": "raw",
        "args": [1, 2],
        "endpoint": "/ns",
        "id": 1,
        "ack": "data",
    }
    assert sent(socket) == ['6::/ns:1+["raw"]']
    # a parameter named packet among others is an ordinary argument
    feed(socket, '5::/ns:{"name":"two","args":["p","o"]}')
    assert ns.calls[1] == ("two", "p", "o")


@pytest.mark.parametrize(
    ("event", "ack"),
    [
        ("pair", '6::/ns:7+[1,"a"]'),  # a tuple spreads into several args
        ("list", "6::/ns:7+[[1,2]]"),  # a list is one argument
        ("none", "6::/ns:7+[null]"),
        ("varargs", "6::/ns:7"),  # an empty tuple: no args, so no "+"
    ],
)
def test_return_value_becomes_ack(event, ack):
    socket, _ns = make_ns()
    feed(socket, f'5:7+:/ns:{{"name":"{event}"}}')
    assert sent(socket) == [ack]


def test_emit_plain():
    socket, ns = make_ns()
    ns.emit("news", {"a": 1}, [2], "x")
    assert sent(socket) == ['5::/ns:{"args":[{"a":1},[2],"x"],"name":"news"}']


def test_emit_with_callback():
    socket, ns = make_ns()
    got = []

    def callback(*args):
        got.append(args)

    ns.emit("question", "why", callback=callback)
    assert sent(socket) == ['5:1+:/ns:{"args":["why"],"name":"question"}']
    assert socket.ack_callbacks == {1: callback}
    ns.emit("again", callback=callback)
    assert sent(socket) == ['5:2+:/ns:{"name":"again"}']
    feed(socket, '6::/ns:1+["because",2]')
    assert got == [("because", 2)]
    assert 1 not in socket.ack_callbacks
    feed(socket, "6::/ns:1+[]")  # a second ack for the same id: ignored
    assert got == [("because", 2)]
    feed(socket, "6::/ns:2")
    assert got == [("because", 2), ()]


def test_emit_with_another_keyword_raises_value_error():
    socket, ns = make_ns()
    with pytest.raises(ValueError, match="only supports positional argument") as info:
        ns.emit("x", 1, room="lobby")
    assert info.value.message == str(info.value)
    with pytest.raises(ValueError, match="only supports positional argument"):
        ns.emit("x", callback=lambda: None, broadcast=True)
    assert sent(socket) == []
    assert socket.ack_callbacks == {}


def test_send_plain_and_json():
    socket, ns = make_ns()
    ns.send("hello")
    ns.send({"a": [1, 2]}, json=True)
    assert sent(socket) == ["3::/ns:hello", '4::/ns:{"a":[1,2]}']


def test_send_with_callback_asks_for_plain_ack():
    socket, ns = make_ns()
    got = []
    ns.send("hello", callback=lambda *a: got.append(("plain", a)))
    ns.send([1], json=True, callback=lambda *a: got.append(("json", a)))
    assert sent(socket) == ["3:1:/ns:hello", "4:2:/ns:[1]"]
    feed(socket, "6::/ns:2", "6::/ns:1")
    assert got == [("json", ()), ("plain", ())]


# -- errors ----------------------------------------------------------------


def test_error_sends_error_event_on_the_namespace():
    socket, ns = make_ns()
    ns.error("my_error", "something broke")
    assert sent(socket) == ['5::/ns:{"args":["my_error","something broke"],"name":"error"}']
    ns.error("my_error", "with id", msg_id=4)
    assert sent(socket) == ['5:4:/ns:{"args":["my_error","with id"],"name":"error"}']
    ns.error("my_error", "quiet", quiet=True)
    assert sent(socket) == []


def test_error_delegates_to_socket_error_handler():
    calls = []
    socket, ns = make_ns()
    socket._set_error_handler(lambda *a: calls.append(a))
    ns.error("e", "m", msg_id=3, quiet=True)
    assert calls == [(socket, "e", "m", "/ns", 3, True)]


@pytest.mark.parametrize("name", ["bad-name", "1abc", "a.b", "", "ü", "a\nb"])
def test_unallowed_event_name(name):
    import json

    socket, ns = make_ns()
    feed(socket, "5::/ns:" + json.dumps({"name": name}))
    assert sent(socket) == [
        error_event(
            "unallowed_event_name", "name must only contains alpha numerical characters", "/ns"
        )
    ]
    assert ns.calls == []


def test_event_without_name_is_reported():
    socket, ns = make_ns()
    feed(socket, "5::/ns:", "5::/ns:{not json", '5::/ns:{"args":[1]}')
    assert (
        sent(socket)
        == [
            error_event(
                "unallowed_event_name", "name must only contains alpha numerical characters", "/ns"
            )
        ]
        * 3
    )
    assert ns.calls == []


def test_no_such_method():
    socket, _ns = make_ns()
    feed(socket, '5::/ns:{"name":"missing"}')
    assert sent(socket) == [
        error_event("no_such_method", 'The method "on_missing" was not found', "/ns")
    ]


@pytest.mark.parametrize("event", ["static", "static_empty"])
def test_invalid_method_args_for_staticmethod(event):
    socket, _ns = make_ns()
    feed(socket, f'5:1+:/ns:{{"name":"{event}","args":[1]}}')
    assert sent(socket)[0] == error_event(
        "invalid_method_args",
        "The server-side method is invalid, as it doesn't have 'self' as its first argument",
        "/ns",
    )


def test_method_access_denied():
    class Guarded(Recording):
        def get_initial_acl(self):
            return ["recv_connect", "on_noargs"]

    socket, ns = make_ns(Guarded)
    feed(socket, '5::/ns:{"name":"noargs"}', '5::/ns:{"name":"my event","args":[1,2]}')
    assert ns.calls == [("noargs",)]
    assert sent(socket) == [
        error_event("method_access_denied", 'You do not have access to method "on_my_event"', "/ns")
    ]
    feed(socket, "3::/ns:hi")
    assert sent(socket) == [
        error_event(
            "method_access_denied", 'You do not have access to method "recv_message"', "/ns"
        )
    ]


def test_connect_refused_by_acl_is_still_echoed_but_hook_not_run():
    hits = []

    class Closed(BaseNamespace):
        def get_initial_acl(self):
            return []

        def recv_connect(self):
            hits.append("connect")

    socket = make_socket({"/c": Closed})
    feed(socket, "1::/c")
    out = sent(socket)
    assert out[0] == "1::/c"
    assert out[1] == error_event(
        "method_access_denied", 'You do not have access to method "recv_connect"', "/c"
    )
    assert hits == []


# -- ACL ---------------------------------------------------------------------


class WithACL(BaseNamespace):
    def get_initial_acl(self):
        return ["on_login", "recv_connect"]


def test_default_acl_allows_everything():
    _socket, ns = make_ns(BaseNamespace)
    assert ns.get_initial_acl() is None
    assert ns.allowed_methods is None
    assert ns.is_method_allowed("on_anything")
    with pytest.raises(ValueError, match=re.escape(ACL_MESSAGE)) as info:
        ns.del_acl_method("on_anything")
    assert info.value.message == ACL_MESSAGE
    assert str(info.value) == ACL_MESSAGE
    assert type(info.value) is not ValueError  # a library subclass


def test_acl_methods():
    _socket, ns = make_ns(WithACL)
    assert set(ns.allowed_methods) == {"on_login", "recv_connect"}
    assert ns.is_method_allowed("on_login")
    assert not ns.is_method_allowed("on_data")

    ns.add_acl_method("on_data")
    assert ns.is_method_allowed("on_data")
    ns.add_acl_method(["on_a", "on_b"])
    assert ns.is_method_allowed("on_a")
    assert ns.is_method_allowed("on_b")
    assert set(ns.allowed_methods) == {"on_login", "recv_connect", "on_data", "on_a", "on_b"}

    ns.del_acl_method("on_login")
    assert not ns.is_method_allowed("on_login")

    ns.lift_acl_restrictions()
    assert ns.allowed_methods is None
    assert ns.is_method_allowed("on_whatever")

    ns.reset_acl()
    assert set(ns.allowed_methods) == {"on_login", "recv_connect"}
    assert not ns.is_method_allowed("on_data")


def test_add_acl_method_without_acl_starts_one():
    _socket, ns = make_ns(BaseNamespace)
    ns.add_acl_method("on_only")
    assert set(ns.allowed_methods) == {"on_only"}
    assert not ns.is_method_allowed("on_other")


def test_acl_opened_at_runtime_reaches_the_handler():
    class Login(Recording):
        def get_initial_acl(self):
            return ["recv_connect", "on_login"]

        def on_login(self, password):
            if password == "secret":
                self.add_acl_method("on_noargs")
            return password == "secret"

    socket, ns = make_ns(Login)
    feed(socket, '5::/ns:{"name":"noargs"}')
    assert "method_access_denied" in sent(socket)[0]
    feed(socket, '5:1+:/ns:{"name":"login","args":["secret"]}', '5::/ns:{"name":"noargs"}')
    assert sent(socket) == ["6::/ns:1+[true]"]
    assert ns.calls == [("noargs",)]


# -- exception_handler_decorator ---------------------------------------------


HANDLED: list = []


def _catching(tag):
    def decorator(fn):
        def wrap(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                HANDLED.append((tag, str(exc)))
                return "handled"

        return wrap

    return decorator


class Failing(BaseNamespace):
    def on_fail(self, what):
        raise RuntimeError(what)

    def on_fine(self):
        return "fine"

    def recv_message(self, data):
        raise KeyError(data)


class InstanceForm(Failing):
    def exception_handler_decorator(self, fn):
        assert isinstance(self, InstanceForm)
        return _catching("instance")(fn)


class StaticForm(Failing):
    @staticmethod
    def exception_handler_decorator(fn):
        return _catching("static")(fn)


class ClassForm(Failing):
    @classmethod
    def exception_handler_decorator(cls, fn):
        assert cls is ClassForm
        return _catching("class")(fn)


@pytest.mark.parametrize(
    ("cls", "tag"), [(InstanceForm, "instance"), (StaticForm, "static"), (ClassForm, "class")]
)
def test_exception_handler_decorator_wraps_handlers_and_spawn(cls, tag):
    HANDLED.clear()
    socket, ns = make_ns(cls)
    feed(socket, '5:1+:/ns:{"name":"fail","args":["boom"]}')
    assert HANDLED == [(tag, "boom")]
    assert sent(socket) == ['6::/ns:1+["handled"]']  # the wrapper's value is the result
    feed(socket, '5:2+:/ns:{"name":"fine"}')
    assert sent(socket) == ['6::/ns:2+["fine"]']
    feed(socket, "3:3+:/ns:oops")
    assert HANDLED[-1] == (tag, "'oops'")

    def job(x):
        raise ValueError(f"job {x}")

    greenlet = ns.spawn(job, 5)
    greenlet.join(1)
    assert greenlet.successful()  # the decorator caught it
    assert greenlet.value == "handled"
    assert HANDLED[-1] == (tag, "job 5")


def test_without_decorator_handler_errors_do_not_kill_the_socket():
    socket, _ns = make_ns(Failing)
    feed(socket, '5:1+:/ns:{"name":"fail","args":["boom"]}', '5:2+:/ns:{"name":"fine"}')
    assert sent(socket) == ['6::/ns:2+["fine"]']
    assert socket.connected


# -- jobs --------------------------------------------------------------------


def test_spawn_and_kill_local_jobs():
    _socket, ns = make_ns(BaseNamespace)
    ticks = []

    def loop(tag):
        while True:
            ticks.append(tag)
            gevent.sleep(0.001)

    first = ns.spawn(loop, "a")
    second = ns.spawn(loop, "b")
    assert ns.jobs == [first, second]
    wait_until(lambda: "a" in ticks and "b" in ticks, "both jobs ran")
    ns.kill_local_jobs()
    wait_until(lambda: first.dead and second.dead, "both jobs killed")
    assert ns.jobs == []


def test_disconnect_kills_local_jobs():
    _socket, ns = make_ns(BaseNamespace)
    job = ns.spawn(gevent.sleep, 10)
    ns.disconnect(silent=True)
    wait_until(lambda: job.dead, "the job killed")


# -- initialize --------------------------------------------------------------


def test_initialize_once_per_class_of_the_mro_that_defines_it():
    order = []

    class Mixin:
        def initialize(self):
            order.append("Mixin")

    class Base(BaseNamespace):
        def initialize(self):
            order.append("Base")

    class NoInit(Base):
        pass

    class Leaf(NoInit, Mixin):
        def initialize(self):
            order.append("Leaf")

    socket = make_socket({"/leaf": Leaf})
    assert order == []  # nothing before the first packet
    feed(socket, "1::/leaf", '5::/leaf:{"name":"x"}')
    assert sorted(order) == ["Base", "Leaf", "Mixin"]
    assert order.index("Leaf") < order.index("Base")  # MRO order
    assert len(socket.active_ns) == 1


# -- default hooks -----------------------------------------------------------


def test_recv_message_and_recv_json_return_their_data():
    socket, ns = make_ns(BaseNamespace)
    assert ns.recv_message("text") == "text"
    assert ns.recv_json({"a": 1}) == {"a": 1}
    feed(socket, "3:1+:/ns:hello", '4:2+:/ns:{"a":[1]}')
    assert sent(socket) == ['6::/ns:1+["hello"]', '6::/ns:2+[{"a":[1]}]']


def test_recv_error_receives_the_packet():
    got = []

    class NS(BaseNamespace):
        def recv_error(self, packet):
            got.append(packet)

    socket, _ns = make_ns(NS)
    feed(socket, "7::/ns:2+0")
    assert got == [
        {"type": "error", "endpoint": "/ns", "reason": "unauthorized", "advice": "reconnect"}
    ]


def test_connect_packet_is_echoed_and_recv_connect_runs():
    hits = []

    class NS(BaseNamespace):
        def recv_connect(self):
            hits.append(self.ns_name)

    socket = make_socket({"/ns": NS})
    feed(socket, "1::/ns")
    assert sent(socket) == ["1::/ns"]
    assert hits == ["/ns"]


def test_attributes():
    request = object()
    socket = make_socket({"/ns": BaseNamespace}, request=request)
    feed(socket, "1::/ns")
    ns = socket["/ns"]
    assert ns.socket is socket
    assert ns.environ is socket.environ
    assert ns.environ["socketio"] is socket
    assert ns.request is request
    assert ns.ns_name == "/ns"
    assert ns.session is socket.session
    assert ns.jobs == []
    assert ns.allowed_methods is None


# -- disconnect --------------------------------------------------------------


def test_disconnect_sends_disconnect_packet_unless_silent():
    socket = make_socket({"/a": BaseNamespace, "/b": BaseNamespace, "/c": BaseNamespace})
    feed(socket, "1::/a", "1::/b", "1::/c")
    sent(socket)
    socket["/a"].disconnect()
    assert sent(socket) == ["0::/a"]
    assert "/a" not in socket.active_ns
    socket["/b"].disconnect(silent=True)
    assert sent(socket) == []
    assert sorted(socket.active_ns) == ["/c"]
    assert socket.connected


def test_disconnecting_the_last_namespace_ends_the_socket():
    socket = make_socket({"/a": BaseNamespace})
    feed(socket, "1::/a")
    sent(socket)
    socket["/a"].disconnect()
    assert sent(socket)[0] == "0::/a"
    assert socket.state == socket.STATE_DISCONNECTING
    assert socket.ended.is_set()
    assert socket.sessid not in socket.server.sockets


def test_client_disconnect_packet_runs_recv_disconnect():
    hits = []

    class NS(BaseNamespace):
        def recv_disconnect(self):
            hits.append(self.ns_name)
            super().recv_disconnect()

    socket = make_socket({"/a": NS, "/b": NS})
    feed(socket, "1::/a", "1::/b")
    sent(socket)
    feed(socket, "0::/a")
    assert hits == ["/a"]
    assert sorted(socket.active_ns) == ["/b"]
    assert sent(socket) == []  # the default recv_disconnect is silent
    assert socket.connected


# -- the client's mistakes: arguments the handler does not take ---------------------


class Arity(BaseNamespace):
    def initialize(self):
        self.calls = []

    def on_two(self, a, b):
        self.calls.append(("two", a, b))
        return "two"

    def on_defaults(self, a, b=2, c=3):
        self.calls.append(("defaults", a, b, c))

    def on_rest(self, a, *rest):
        self.calls.append(("rest", a, *rest))

    def on_kwonly(self, a, *, b):  # no positional call fits: the application's bug
        self.calls.append(("kwonly", a, b))

    @_catching("wrapped")
    def on_wrapped(self, a):  # a wrapper taking (*args): its own count is not known
        self.calls.append(("wrapped", a))

    def on_bad(self, a):
        raise TypeError("the handler's own bug")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"name":"two","args":[1]}', 'The method "on_two" takes 2 arguments, not 1'),
        ('{"name":"two","args":[1,2,3]}', 'The method "on_two" takes 2 arguments, not 3'),
        ('{"name":"two"}', 'The method "on_two" takes 2 arguments, not 0'),
        ('{"name":"defaults"}', 'The method "on_defaults" takes 1 to 3 arguments, not 0'),
        (
            '{"name":"defaults","args":[1,2,3,4]}',
            'The method "on_defaults" takes 1 to 3 arguments, not 4',
        ),
        ('{"name":"rest"}', 'The method "on_rest" takes at least 1 argument, not 0'),
    ],
)
def test_wrong_number_of_event_arguments_gets_an_error_and_no_call(raw, message, caplog):
    socket, ns = make_ns(Arity)
    with caplog.at_level("INFO"):
        feed(socket, f"5:4+:/ns:{raw}")
    assert sent(socket) == [error_event("invalid_event_args", message, "/ns"), "6::/ns:4+[null]"]
    assert ns.calls == []
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert socket.connected


def test_right_numbers_of_event_arguments_reach_the_handler():
    socket, ns = make_ns(Arity)
    feed(
        socket,
        '5::/ns:{"name":"two","args":[1,2]}',
        '5::/ns:{"name":"defaults","args":[1]}',
        '5::/ns:{"name":"defaults","args":[1,2,3]}',
        '5::/ns:{"name":"rest","args":[1,2,3,4,5]}',
        '5::/ns:{"name":"wrapped","args":[1]}',
    )
    assert ns.calls == [
        ("two", 1, 2),
        ("defaults", 1, 2, 3),
        ("defaults", 1, 2, 3),
        ("rest", 1, 2, 3, 4, 5),
        ("wrapped", 1),
    ]
    assert sent(socket) == []


def test_a_wrapper_with_star_args_is_called_whatever_the_count():
    HANDLED.clear()
    socket, _ns = make_ns(Arity)
    feed(socket, '5:1+:/ns:{"name":"wrapped","args":[1,2]}')
    # the wrapper took them; the TypeError of the function it wraps is the wrapper's to handle
    assert HANDLED
    assert HANDLED[0][0] == "wrapped"
    assert sent(socket) == ['6::/ns:1+["handled"]']


def test_a_type_error_of_the_handler_itself_is_the_applications_and_keeps_its_traceback(caplog):
    socket, _ns = make_ns(Arity)
    with caplog.at_level("INFO"):
        feed(socket, '5::/ns:{"name":"bad","args":[1]}', '5::/ns:{"name":"kwonly","args":[1]}')
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2
    assert all(r.exc_info for r in errors)
    assert "the handler's own bug" in caplog.text
    assert sent(socket) == []


def test_the_arguments_of_recv_hooks_are_ours_not_the_clients(caplog):
    class Wrong(BaseNamespace):
        def recv_message(self):  # the application's mistake: it takes no data
            pass

    socket, _ns = make_ns(Wrong)
    with caplog.at_level("INFO"):
        feed(socket, "3::/ns:hello")
    assert [r.levelname for r in caplog.records if r.exc_info] == ["ERROR"]
    assert sent(socket) == []


def test_ack_with_arguments_the_callback_does_not_take_gets_an_error(caplog):
    socket, ns = make_ns()
    got = []

    class Holder:
        def method(self, a):
            got.append(("method", a))

    ns.emit("q", callback=lambda a, b: got.append((a, b)))
    ns.emit("q", callback=Holder().method)
    ns.emit("q", callback=lambda *a: got.append(a))
    sent(socket)
    with caplog.at_level("INFO"):
        feed(socket, "6::/ns:1+[1]", "6::/ns:2+[1,2]", "6::/ns:3+[1,2,3]")
    assert got == [(1, 2, 3)]
    assert sent(socket) == [
        error_event(
            "invalid_ack_args", "The callback of message 1 takes 2 arguments, not 1", "/ns"
        ),
        error_event("invalid_ack_args", "The callback of message 2 takes 1 argument, not 2", "/ns"),
    ]
    assert "Traceback" not in caplog.text


def test_reflected_names_are_clipped():
    socket, _ns = make_ns()
    name = "a" * 100_000
    feed(socket, f'5::/ns:{{"name":"{name}"}}')
    (out,) = sent(socket)
    assert len(out) < 400
    assert '"on_aaaa' in out
    assert "...(+" in out


def test_an_ack_for_an_unknown_id_is_one_short_line(caplog):
    socket, _ns = make_ns()
    with caplog.at_level("INFO", logger="socketio.namespace"):
        feed(socket, *(f"6::/ns:{'9' * 4000}+[1]" for _ in range(50)))
    lines = [r.getMessage() for r in caplog.records if "unknown id" in r.getMessage()]
    assert len(lines) <= 1
    assert all(len(line) < 200 for line in lines)
    assert sent(socket) == []
