'use strict';
// A remote-controlled socket.io-client 0.9.16 (the node build) for the
// lifecycle tests: the Python test drives it step by step, so it can act on
// the server (kill it, wait for a timer) between two client actions.
//
//   node lifecycle_client.js <base url>
//
// Reads one JSON command per line on stdin and answers each with one JSON line
// on stdout: {"id", "ok": true, "result"} or {"id", "ok": false, "error"}.
// Commands ({"id": n, "cmd": ..., ...}):
//
//   connect   {label, ns, transport, options, noWait}  io.connect(base + ns) with a
//             new socket (reconnect off unless options say otherwise); answers once
//             the namespace is connected, with the session id (at once with noWait)
//   of        {label, ns, from}                another namespace of the socket of `from`
//   emit      {label, event, args, ack}        emit; with ack, answers with the ack's args
//   leave     {label}                          namespace.disconnect() (sends 0::/ns)
//   disconnect {label}                         socket.disconnect() (sends 0::), once idle
//   wait      {label, event, ms}               the args of the next `event` on the
//             namespace (label) or on its socket (label "socket:<label>")
//   state     {label}                          connected/open/reconnecting/sessionid/transport
//   log       {}                               every event seen and the packets in and out
//   flood     {label, event, count, every}     emit `count` events with acks, all at once
//             (every 0) or one each `every` ms; answers at once
//   flooded   {label}                          {sent, acked} of the label's floods so far
//   agent     {keepAlive}                      the HTTP agent of the polling requests that
//             follow: without keep-alive each is a new TCP connection (so behind
//             gunicorn each may reach another worker)
//   exit      {}
//
// Every event a namespace or socket emits is logged as {c: label, e: event,
// a: args, t: ms since start}; heartbeats in and out are in the wire log.

const http = require('http');
const path = require('path');
const readline = require('readline');
const io = require(path.join(__dirname, 'node_modules', 'socket.io-client'));

const BASE = process.argv[2];
const T0 = Date.now();
const LOG = [];
const WIRE = [];
const NS = {};
const waiters = [];
const consumed = new Set();
const FLOODS = {};

function now() {
  return Date.now() - T0;
}

function short(value) {
  if (typeof value === 'string' && value.length > 200) return { $len: value.length };
  if (typeof value === 'function') return '<fn>';
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(short);
  return value;
}

function record(label, event, args) {
  const entry = { c: label, e: event, a: short(args), t: now(), seq: LOG.length };
  LOG.push(entry);
  for (const w of waiters) {
    if (!w.done && w.c === label && w.e === event) {
      w.done = true;
      consumed.add(entry.seq);
      w.resolve(entry.a);
      break;
    }
  }
}

const parser = io.parser;
const encodePacket = parser.encodePacket;
parser.encodePacket = function (packet) {
  const text = encodePacket.apply(this, arguments);
  WIRE.push(['out', text.length > 200 ? text.slice(0, 200) : text, now()]);
  return text;
};
const decodePacket = parser.decodePacket;
parser.decodePacket = function (text) {
  WIRE.push(['in', text.length > 200 ? text.slice(0, 200) : text, now()]);
  return decodePacket.apply(this, arguments);
};

function track(emitter, label, method) {
  const original = emitter[method];
  emitter[method] = function (event) {
    record(label, event, Array.prototype.slice.call(arguments, 1));
    return original.apply(this, arguments);
  };
}

function within(ms, what, promise) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function next(label, event, ms) {
  const found = LOG.find((en) => en.c === label && en.e === event && !consumed.has(en.seq));
  if (found) {
    consumed.add(found.seq);
    return Promise.resolve(found.a);
  }
  const w = { c: label, e: event, done: false };
  const p = new Promise((resolve) => {
    w.resolve = resolve;
  });
  waiters.push(w);
  return within(ms || 5000, `event '${event}' on ${label}`, p).finally(() => {
    w.done = true;
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function idle(ns) {
  const deadline = Date.now() + 5000;
  while (ns.socket.doBuffer || ns.socket.buffer.length) {
    if (Date.now() > deadline) throw new Error('the client stayed busy (buffering)');
    await sleep(10);
  }
}

const COMMANDS = {
  async connect(c) {
    const opts = Object.assign(
      {
        transports: [c.transport],
        'force new connection': true,
        reconnect: false,
        'try multiple transports': false,
        'connect timeout': 5000,
      },
      c.options || {},
    );
    const ns = io.connect(BASE + (c.ns || ''), opts);
    track(ns, c.label, '$emit');
    track(ns.socket, 'socket:' + c.label, 'emit');
    NS[c.label] = ns;
    if (c.noWait) return null;
    await next(c.label, 'connect', 5000);
    return { sessionid: ns.socket.sessionid, transport: ns.socket.transport.name };
  },
  async of(c) {
    const ns = NS[c.from].socket.of(c.ns);
    track(ns, c.label, '$emit');
    NS[c.label] = ns;
    if (c.noWait) return null; // (a refused namespace never connects)
    await next(c.label, 'connect', 5000);
    return true;
  },
  async emit(c) {
    const ns = NS[c.label];
    if (!c.ack) {
      ns.emit.apply(ns, [c.event].concat(c.args || []));
      return null;
    }
    return within(
      c.ms || 5000,
      `the ack of '${c.event}'`,
      new Promise((resolve) => {
        ns.emit.apply(ns, [c.event].concat(c.args || [], [(...got) => resolve(short(got))]));
      }),
    );
  },
  async leave(c) {
    await idle(NS[c.label]);
    NS[c.label].disconnect();
    return true;
  },
  async disconnect(c) {
    await idle(NS[c.label]);
    NS[c.label].socket.disconnect();
    return true;
  },
  async wait(c) {
    return next(c.label, c.event, c.ms);
  },
  async state(c) {
    const s = NS[c.label].socket;
    return {
      connected: s.connected,
      open: s.open,
      reconnecting: s.reconnecting,
      sessionid: s.sessionid,
      transport: s.transport ? s.transport.name : null,
    };
  },
  async flood(c) {
    const ns = NS[c.label];
    const counts = (FLOODS[c.label] = FLOODS[c.label] || { sent: 0, acked: 0 });
    const one = () => {
      counts.sent += 1;
      ns.emit(c.event, counts.sent, () => {
        counts.acked += 1;
      });
    };
    if (!c.every) {
      for (let i = 0; i < c.count; i++) one();
      return null;
    }
    let left = c.count;
    const timer = setInterval(() => {
      if (left-- <= 0 || !ns.socket.connected) clearInterval(timer);
      else one();
    }, c.every);
    return null;
  },
  async flooded(c) {
    return FLOODS[c.label] || { sent: 0, acked: 0 };
  },
  async agent(c) {
    // (xmlhttprequest, the node client's XHR, sends through http.globalAgent)
    http.globalAgent = new http.Agent({ keepAlive: !!c.keepAlive });
    return true;
  },
  async log() {
    return { log: LOG, wire: WIRE };
  },
  async exit() {
    setTimeout(() => process.exit(0), 10);
    return true;
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  const fn = COMMANDS[c.cmd];
  if (!fn) {
    reply({ id: c.id, ok: false, error: `unknown command ${c.cmd}` });
    return;
  }
  fn(c).then(
    (result) => reply({ id: c.id, ok: true, result: result === undefined ? null : result }),
    (err) => reply({ id: c.id, ok: false, error: String(err && err.stack ? err.stack : err) }),
  );
});
process.stdin.on('end', () => process.exit(0));
