'use strict';
// Runs one scenario with the real socket.io-client 0.9.16 (lib/, the node
// build: websocket through `ws`, xhr-polling through `xmlhttprequest`) against
// a live server, and prints what it observed as JSON on stdout.
//
//   node scenarios.js <scenario> <base url> <transport> [total timeout ms]
//
// Output: one JSON object per line. Scenarios that need the test to act in the
// middle (the server restart) first print {"phase": ...} lines; the last line
// is always the result:
//
//   {"scenario", "transport", "ok", "error", "step", "results", "log", "wire"}
//
// `results` holds what the scenario measured; `log` every event the client
// namespaces emitted ({c: client label, e: event, a: args}, ack callbacks as
// "ack:<event>" / "ack:send"); `wire` the packets the client encoded ("out")
// and decoded ("in"). Long strings are shown as {"$len": n}, functions (the
// ack callback a server-side callback asks for) as "<ack fn>".
//
// Every wait has a timeout (STEP_MS) naming what was awaited, and the whole
// scenario has one too, so a hang fails fast with a clear message instead of
// stalling the test run. The process exits 0 when it could report (ok or
// not), 2 on the total timeout.

const path = require('path');
const http = require('http');
const util = require('util');
const io = require(path.join(__dirname, 'node_modules', 'socket.io-client'));

const SCENARIO = process.argv[2];
const BASE = process.argv[3];
const TRANSPORT = process.argv[4];
const TOTAL_MS = Number(process.argv[5] || 20000);
const STEP_MS = 5000;
const LONG = 300;

// -- recording ----------------------------------------------------------------

const LOG = []; // {c, e, a (raw args), seq}
const WIRE = [];
const consumed = new Set();
const waiters = [];
const clients = [];
const R = {};
let currentStep = 'start';

function visible(value) {
  if (typeof value === 'function') return '<ack fn>';
  if (typeof value === 'string' && value.length > LONG) return { $len: value.length };
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(visible);
  if (value && typeof value === 'object') {
    const out = {};
    for (const k of Object.keys(value)) out[k] = visible(value[k]);
    return out;
  }
  return value;
}

function record(label, event, args) {
  const entry = { c: label, e: event, a: args, seq: LOG.length };
  LOG.push(entry);
  for (const w of waiters) {
    if (!w.done && w.c === label && w.e === event) {
      consumed.add(entry.seq);
      w.done = true;
      w.resolve(args);
      break;
    }
  }
}

const parser = io.parser;
const encodePacket = parser.encodePacket;
parser.encodePacket = function (packet) {
  const text = encodePacket.apply(this, arguments);
  WIRE.push(['out', text.length > LONG ? text.slice(0, LONG) + '…' : text]);
  return text;
};
const decodePacket = parser.decodePacket;
parser.decodePacket = function (text) {
  WIRE.push(['in', text.length > LONG ? text.slice(0, LONG) + '…' : text]);
  return decodePacket.apply(this, arguments);
};

function step(name) {
  currentStep = name;
}

// -- client helpers -------------------------------------------------------------

/** Record every event the namespace emits under `label`. */
function track(ns, label) {
  const emit = ns.$emit;
  ns.$emit = function (event) {
    record(label, event, Array.prototype.slice.call(arguments, 1));
    return emit.apply(this, arguments);
  };
  ns.label = label;
  return ns;
}

/** A new client socket on `nsPath` ('' or '/chat'...), its namespace tracked as `label`. */
function connect(nsPath, label, options) {
  const opts = Object.assign(
    {
      transports: [TRANSPORT],
      'force new connection': true,
      reconnect: false,
      'try multiple transports': false,
      'connect timeout': STEP_MS,
    },
    options || {},
  );
  const ns = io.connect(BASE + nsPath, opts);
  clients.push(ns.socket);
  return track(ns, label);
}

/** Another namespace of the same socket. */
function of(ns, nsPath, label) {
  return track(ns.socket.of(nsPath), label);
}

/** The args of the next event `event` on `ns` not consumed yet (waits for it). */
function next(ns, event, ms) {
  const limit = ms || STEP_MS;
  const found = LOG.find((en) => en.c === ns.label && en.e === event && !consumed.has(en.seq));
  if (found) {
    consumed.add(found.seq);
    return Promise.resolve(found.a);
  }
  return new Promise((resolve, reject) => {
    const w = { c: ns.label, e: event, done: false };
    const timer = setTimeout(() => {
      if (!w.done) {
        w.done = true;
        reject(new Error(`timed out after ${limit} ms waiting for event '${event}' on client ${ns.label}`));
      }
    }, limit);
    w.resolve = (args) => {
      clearTimeout(timer);
      resolve(args);
    };
    waiters.push(w);
  });
}

/** Every event `event` seen on `ns` so far (args), consumed or not. */
function seen(ns, event) {
  return LOG.filter((en) => en.c === ns.label && en.e === event).map((en) => en.a);
}

/** Emit with a callback; resolves with the callback's arguments. */
function ack(ns, event) {
  const args = Array.prototype.slice.call(arguments, 2);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ack within ${STEP_MS} ms for emit('${event}') on client ${ns.label}`)),
      STEP_MS,
    );
    ns.emit.apply(
      ns,
      [event].concat(args, [
        function () {
          clearTimeout(timer);
          const got = Array.prototype.slice.call(arguments);
          record(ns.label, 'ack:' + event, got);
          resolve(got);
        },
      ]),
    );
  });
}

/** send() (json.send() with `json`) with a callback; resolves with its arguments. */
function sendAck(ns, data, json) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ack within ${STEP_MS} ms for send(${JSON.stringify(data)}) on client ${ns.label}`)),
      STEP_MS,
    );
    (json ? ns.json : ns).send(data, function () {
      clearTimeout(timer);
      const got = Array.prototype.slice.call(arguments);
      record(ns.label, 'ack:send', got);
      resolve(got);
    });
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** GET a test endpoint of the server (/_events, /_sockets) as JSON. */
function get(urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get(BASE + urlPath, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(new Error(`GET ${urlPath}: bad JSON ${body.slice(0, 100)}`));
        }
      });
    });
    req.on('error', (e) => reject(new Error(`GET ${urlPath}: ${e.message}`)));
    req.setTimeout(STEP_MS, () => req.destroy(new Error(`GET ${urlPath} timed out`)));
  });
}

/** Poll `check()` (may be async) until it is truthy; fails after `ms` saying `what`. */
async function until(check, what, ms) {
  const deadline = Date.now() + (ms || STEP_MS);
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms || STEP_MS} ms waiting until ${what}`);
    await sleep(25);
  }
}

/** Server-side hooks recorded for one session id. */
async function eventsOf(sessid) {
  return (await get('/_events')).filter((e) => e[2] === sessid);
}

/**
 * Wait until the client is not buffering: on xhr-polling a packet sent while
 * a POST is in flight waits in socket.buffer, and a socket.disconnect() at that
 * moment would drop its own '0::' (the client closes without flushing).
 */
function idle(ns) {
  return until(() => !ns.socket.doBuffer && ns.socket.buffer.length === 0, `client ${ns.label} is not buffering`);
}

function phase(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// -- scenarios ----------------------------------------------------------------

const TRICKY = [
  'emoji 😀🎉 𝄞 \u{10fffd}',
  'replacement \ufffd char \ufffd\ufffd',
  'fake framing \ufffd5\ufffd3:::x\ufffd',
  'quotes " \' ` ${x}',
  'backslashes \\ \\\\ \\n \\u0041 \\"',
  'newlines \n \r\n \r tab \t',
  '</script><script>alert(1)</script>',
  'separators \u2028 \u2029 nul \u0000 \u001f',
  'packet-like 6:::1+["x"] 5:::{"name":"y"} colon: plus+',
  'ünïcödé 中文 Ω',
  '',
];

const SCENARIOS = {
  async connect_global() {
    step('connect to the global namespace');
    const g = connect('', 'G');
    await next(g, 'connect');
    R.sessid = g.socket.sessionid;
    R.transport = g.socket.transport.name;
    R.sockets = await get('/_sockets');
    R.events_before_packet = await eventsOf(R.sessid);
    step('echo and whoami on the global namespace');
    R.echo = await ack(g, 'echo', 'hi', 2, { x: null });
    R.whoami = await ack(g, 'whoami');
    R.events = await eventsOf(R.sessid);
  },

  async connect_chat() {
    step('connect to /chat');
    const c = connect('/chat', 'C');
    R.welcome = await next(c, 'welcome');
    R.sessid = c.socket.sessionid;
    R.order = LOG.filter((e) => e.c === 'C').map((e) => e.e);
    R.sockets = await get('/_sockets');
    R.events = await eventsOf(R.sessid);
  },

  async acks() {
    const c = connect('/chat', 'C');
    c.on('question', function (question, fn) {
      fn('answer to ' + question, 42, { ok: true });
    });
    await next(c, 'welcome');
    step('client emit with callback');
    R.echo = await ack(c, 'echo', 'a', 1, 2.5, true, null, [1, [2]], { k: 'v' });
    R.echo_empty = await ack(c, 'echo');
    R.nothing = await ack(c, 'nothing');
    step('server emit with callback');
    c.emit('ask', 'life?');
    R.question = await next(c, 'question');
    R.answered = await next(c, 'answered');
  },

  async ack_in_time() {
    // The server emits with ack_timeout; this client acks at once, so its
    // callback gets the ack's args and never the timeout.
    const c = connect('/chat', 'C');
    c.on('question', function (question, fn) {
      fn('answer to ' + question);
    });
    await next(c, 'welcome');
    step('server emit with a 1 s ack timeout, acked');
    c.emit('ask_within', 'quick?', 1);
    R.outcome = await next(c, 'ask_outcome');
    step('past the timeout');
    await sleep(1300);
    R.outcomes = LOG.filter((e) => e.c === 'C' && e.e === 'ask_outcome').length;
  },

  async send_json() {
    const c = connect('/chat', 'C');
    await next(c, 'welcome');
    R.sessid = c.socket.sessionid;
    step('send without callback');
    c.send('plain text');
    R.message = await next(c, 'message');
    step('send with callback');
    R.send_ack = await sendAck(c, 'with callback');
    R.message_cb = await next(c, 'message');
    step('json.send without callback');
    c.json.send({ a: [1, 'b'], n: null });
    R.json = await next(c, 'message');
    step('json.send with callback');
    R.json_ack = await sendAck(c, { cb: true }, true);
    R.json_cb = await next(c, 'message');
    step('server send with callback');
    c.emit('send_with_callback', 'from server');
    R.server_message = await next(c, 'message');
    R.server_message_acked = await next(c, 'send_acked');
    step('server json send with callback');
    c.emit('send_with_callback', { k: 'v' }, true);
    R.server_json = await next(c, 'message');
    R.server_json_acked = await next(c, 'send_acked');
    R.order = LOG.filter((e) => e.c === 'C' && (e.e === 'message' || e.e === 'ack:send')).map((e) => e.e);
    R.events = await eventsOf(R.sessid);
  },

  async acl() {
    const p = connect('/private', 'P');
    await next(p, 'connect');
    R.sessid = p.socket.sessionid;
    step('data before login');
    p.emit('data');
    R.denied = await next(p, 'error');
    R.denied_with_callback = await ack(p, 'data');
    R.denied_with_callback_error = await next(p, 'error');
    step('login');
    R.login_wrong = await ack(p, 'login', 'wrong');
    R.login = await ack(p, 'login', 'secret');
    step('data after login');
    R.data = await ack(p, 'data');
    R.errors = seen(p, 'error');
    R.events = await eventsOf(R.sessid);
  },

  async unknown_namespace() {
    const n = connect('/nope', 'N');
    step('error for /nope');
    R.error = await next(n, 'error');
    R.sessid = n.socket.sessionid;
    step('the same socket still serves /chat');
    const c = of(n, '/chat', 'C');
    R.welcome = await next(c, 'welcome');
    R.nope_events = LOG.filter((e) => e.c === 'N').map((e) => e.e);
    R.sockets = await get('/_sockets');
    R.events = await eventsOf(R.sessid);
  },

  async errors() {
    const c = connect('/chat', 'C');
    await next(c, 'welcome');
    R.sessid = c.socket.sessionid;
    step('unknown event');
    c.emit('no_such_thing', 1);
    R.no_method = await next(c, 'error');
    step('unallowed event name');
    c.emit('bad-name!');
    R.bad_name = await next(c, 'error');
    step('exception in a handler');
    c.emit('fail');
    R.after_fail = await ack(c, 'echo', 'still alive');
    step('handler called with the wrong arguments');
    c.emit('bad_args', 1);
    R.after_bad_args = await ack(c, 'echo', 'still alive 2');
    R.errors = seen(c, 'error');
    R.connected = c.socket.connected;
    R.sockets = await get('/_sockets');
  },

  async client_disconnect() {
    const c = connect('/chat', 'C');
    const n = of(c, '/news', 'N');
    await next(c, 'welcome');
    await next(n, 'connect');
    const sessid = (R.sessid = c.socket.sessionid);
    R.sockets_before = await get('/_sockets');
    step('leave /chat');
    await idle(c);
    c.disconnect();
    R.chat_disconnect = await next(c, 'disconnect');
    await until(
      async () => (await eventsOf(sessid)).some((e) => e[0] === 'recv_disconnect' && e[1] === '/chat'),
      'recv_disconnect ran for /chat',
    );
    R.news_echo = await ack(n, 'echo', 'still here');
    R.sockets_middle = await get('/_sockets');
    R.events_middle = await eventsOf(sessid);
    step('disconnect the whole socket');
    await idle(c);
    c.socket.disconnect();
    R.news_disconnect = await next(n, 'disconnect');
    await until(async () => !(await get('/_sockets')).includes(sessid), 'the session left /_sockets');
    R.events = await eventsOf(sessid);
  },

  async server_kick() {
    const c = connect('/chat', 'C');
    await next(c, 'welcome');
    const sessid = (R.sessid = c.socket.sessionid);
    const g = of(c, '', 'G');
    step('kick');
    c.emit('kick');
    R.kicked = await next(c, 'disconnect');
    step('the socket stays');
    R.global_echo = await ack(g, 'echo', 'alive');
    R.connected = c.socket.connected;
    R.sockets = await get('/_sockets');
    step('/chat again on a new instance');
    R.chat_again = await ack(c, 'echo', 'back');
    R.events = await eventsOf(sessid);
    R.global_events = seen(g, 'disconnect');
  },

  async server_kill() {
    const c = connect('/chat', 'C', { reconnect: true, 'reconnection delay': 50, 'max reconnection attempts': 3 });
    await next(c, 'welcome');
    const sessid = (R.sessid = c.socket.sessionid);
    const g = of(c, '', 'G');
    // Let the client's next long-poll reach the server first, so the final
    // '0::' leaves on a GET held at that moment: this scenario is about a
    // booted client staying away, not about a kill racing the next poll (a
    // poll that finds the session gone gets '7:::1+0', and a 0.9 client
    // reconnects on that).
    await sleep(100);
    step('kill the socket');
    c.emit('kill_socket');
    R.disconnect = await next(c, 'disconnect');
    R.global_disconnect = await next(g, 'disconnect');
    const mark = LOG.length;
    step('no reconnection');
    await until(async () => !(await get('/_sockets')).includes(sessid), 'the session left /_sockets');
    await sleep(600);
    R.after = LOG.slice(mark).map((e) => [e.c, e.e]);
    R.state = {
      connected: c.socket.connected,
      connecting: c.socket.connecting,
      reconnecting: c.socket.reconnecting,
      sessionid: c.socket.sessionid,
    };
    R.events = await eventsOf(sessid);
  },

  async two_namespaces() {
    const c = connect('/chat', 'C');
    const n = of(c, '/news', 'N');
    const g = of(c, '', 'G');
    await next(c, 'welcome');
    await next(n, 'connect');
    R.sessid = c.socket.sessionid;
    step('events routed per namespace');
    const acks = await Promise.all([
      ack(c, 'echo', 'to chat'),
      ack(n, 'echo', 'to news'),
      ack(g, 'whoami'),
      ack(c, 'join', 'r'),
    ]);
    R.chat = acks[0];
    R.news = acks[1];
    R.whoami = acks[2];
    R.chat_join = acks[3];
    n.emit('join', 'r');
    R.news_join = await next(n, 'error');
    R.welcome_news = seen(n, 'welcome');
    R.errors_chat = seen(c, 'error');
    R.events = await eventsOf(R.sessid);
    R.sessids_in_events = Array.from(new Set((await get('/_events')).filter((e) =>
      ['/chat', '/news', ''].includes(e[1]) && e[2] === R.sessid).map((e) => e[2])));
  },

  async payloads() {
    const c = connect('/chat', 'C');
    await next(c, 'welcome');
    R.sessid = c.socket.sessionid;
    step('each tricky string through on_echo (all in flight at once)');
    const echoes = await Promise.all(TRICKY.map((s) => ack(c, 'echo', s)));
    R.sent = TRICKY;
    R.echoed = echoes.map((a) => a[0]);
    R.exact = echoes.map((a, i) => a.length === 1 && a[0] === TRICKY[i]);
    step('all of them in one event, as args and in an object');
    const obj = {};
    TRICKY.forEach((s, i) => (obj['k' + i + s] = s));
    const all = await ack(c, 'echo', TRICKY, obj);
    R.all_exact = util.isDeepStrictEqual(all, [TRICKY, obj]);
    R.all = all;
    step('as a message');
    const text = TRICKY.join('|');
    c.send(text);
    R.message = await next(c, 'message');
    R.message_exact = R.message[0] === text;
    R.message_sent = text;
    R.events = await eventsOf(R.sessid);
  },

  async big_payloads() {
    const c = connect('/chat', 'C');
    await next(c, 'welcome');
    step('1 MB string client -> server -> client');
    const big = 'x'.repeat(1000000);
    const echoed = await ack(c, 'echo', big);
    R.big_echo = { length: echoed[0].length, exact: echoed[0] === big };
    step('about 1 MB of mixed characters (emoji count 2 UTF-16 units)');
    const unit = 'aé😀"\\\n\ufffd</script>中';
    const mixed = unit.repeat(Math.ceil(1000000 / unit.length));
    // The first emit goes out alone; the next two wait for its POST on
    // xhr-polling and leave together, framed with UTF-16 lengths.
    const three = await Promise.all([
      ack(c, 'echo', 'small before big'),
      ack(c, 'echo', mixed),
      ack(c, 'echo', 'small after big'),
    ]);
    R.mixed_echo = { sent: mixed.length, length: three[1][0].length, exact: three[1][0] === mixed };
    R.small = [three[0], three[2]];
    step('about 1 MB message both ways (raw text: emoji not escaped on the wire)');
    c.send('small message before');
    c.send(mixed);
    const last = ack(c, 'echo', 'after the big message');
    const before = await next(c, 'message');
    const echoedMessage = await next(c, 'message');
    R.mixed_message = {
      before: before,
      length: echoedMessage[0].length,
      exact: echoedMessage[0] === mixed,
      after: await last,
    };
    step('1 MB string server -> client (on_big)');
    const made = await ack(c, 'big', 1000000);
    R.big = { length: made[0].length, exact: made[0] === big };
  },

  async rooms() {
    const room = 'r' + Date.now();
    const a = connect('/chat', 'A');
    const b = connect('/chat', 'B');
    const c = connect('/chat', 'C');
    const d = connect('/news', 'D');
    await Promise.all([next(a, 'welcome'), next(b, 'welcome'), next(c, 'welcome'), next(d, 'connect')]);
    R.sessids = [a, b, c, d].map((x) => x.socket.sessionid);
    const barrier = (x) => ack(x, 'echo', 'barrier');
    step('A and B join the room');
    R.join_a = await ack(a, 'join', room);
    R.join_b = await ack(b, 'join', room);
    step('A emits to the room: B receives, A (sender) and C (not a member) do not');
    a.emit('to_room', room, 'hello room');
    R.b_room = await next(b, 'room_message');
    await Promise.all([barrier(a), barrier(c)]);
    R.room_1 = { a: seen(a, 'room_message'), b: seen(b, 'room_message'), c: seen(c, 'room_message') };
    step('A broadcasts: A, B, C receive; D (only on /news) does not');
    a.emit('broadcast', 'to all');
    await Promise.all([next(a, 'broadcast'), next(b, 'broadcast'), next(c, 'broadcast')]);
    await barrier(d);
    R.broadcast_1 = { a: seen(a, 'broadcast'), b: seen(b, 'broadcast'), c: seen(c, 'broadcast'), d: seen(d, 'broadcast') };
    step('B broadcasts to the others: A and C receive, B does not');
    b.emit('broadcast_others', 'not me');
    await Promise.all([next(a, 'broadcast'), next(c, 'broadcast')]);
    await Promise.all([barrier(b), barrier(d)]);
    R.broadcast_2 = { a: seen(a, 'broadcast'), b: seen(b, 'broadcast'), c: seen(c, 'broadcast'), d: seen(d, 'broadcast') };
    step('B leaves, C joins; A emits to the room: only C receives');
    R.leave_b = await ack(b, 'leave', room);
    R.join_c = await ack(c, 'join', room);
    a.emit('to_room', room, 'after leave');
    R.c_room = await next(c, 'room_message');
    await Promise.all([barrier(a), barrier(b)]);
    R.room_2 = { a: seen(a, 'room_message'), b: seen(b, 'room_message'), c: seen(c, 'room_message') };
    R.room = room;
  },

  async reconnect() {
    const c = connect('/chat', 'C', {
      reconnect: true,
      'reconnection delay': 100,
      'reconnection limit': 400,
      'max reconnection attempts': 50,
    });
    await next(c, 'welcome');
    R.before = await ack(c, 'echo', 'before');
    R.sessid_before = c.socket.sessionid;
    phase({ phase: 'ready', sessid: R.sessid_before });
    step('waiting for the disconnect (the test restarts the server)');
    R.disconnect = await next(c, 'disconnect', 10000);
    step('waiting for the reconnection');
    R.reconnect = await next(c, 'reconnect', 10000);
    R.welcome_again = await next(c, 'welcome');
    R.after = await ack(c, 'echo', 'after');
    R.sessid_after = c.socket.sessionid;
    R.connected = c.socket.connected;
    R.reconnecting_events = seen(c, 'reconnecting').length;
    R.sockets = await get('/_sockets');
    R.events = await eventsOf(R.sessid_after);
    R.events_old = await eventsOf(R.sessid_before);
  },
};

// -- runner ---------------------------------------------------------------------

let finished = false;

async function closeAll() {
  // Leave politely so the server frees the sessions: on xhr-polling wait until
  // no POST is in flight, or the client would drop its own '0::'.
  const deadline = Date.now() + 500;
  for (const socket of clients) {
    socket.options.reconnect = false;
    while (socket.connected && (socket.doBuffer || socket.buffer.length) && Date.now() < deadline) {
      await sleep(10);
    }
    if (socket.connected) socket.disconnect();
  }
}

async function finish(error, code) {
  if (finished) return;
  finished = true;
  const out = {
    scenario: SCENARIO,
    transport: TRANSPORT,
    ok: !error,
    error: error ? String((error && error.stack) || error) : null,
    step: currentStep,
    results: visible(R),
    log: LOG.map((en) => ({ c: en.c, e: en.e, a: visible(en.a) })),
    wire: WIRE,
  };
  try {
    await closeAll();
  } catch (e) {
    /* exiting anyway */
  }
  process.stdout.write(JSON.stringify(out) + '\n', () => {
    // let the disconnect packets leave before exiting
    setTimeout(() => process.exit(code || 0), 50);
  });
}

process.on('uncaughtException', (e) => finish(e));
process.on('unhandledRejection', (e) => finish(e));

if (!SCENARIOS[SCENARIO] || !BASE || !TRANSPORT) {
  process.stderr.write(
    `usage: node scenarios.js <scenario> <base url> <transport> [total ms]\nscenarios: ${Object.keys(SCENARIOS).join(', ')}\n`,
  );
  process.exit(64);
}

setTimeout(
  () => finish(new Error(`scenario ${SCENARIO} (${TRANSPORT}) did not finish within ${TOTAL_MS} ms (step: ${currentStep})`), 2),
  TOTAL_MS,
);

SCENARIOS[SCENARIO]().then(
  () => finish(null),
  (e) => finish(e),
);
