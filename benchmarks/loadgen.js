#!/usr/bin/env node
// The benchmark load generator: Socket.IO 0.9 clients (websocket and xhr-polling)
// and their bare counterparts, written to cost the machine as little as possible.
//
//   node loadgen.js '<json config>'
//
// config: {workload, flavour, host, port, ...}
//   workload  "echo"      N clients, each a sequential event-with-ack echo loop (A, B)
//             "broadcast" N clients held open; client 0 sends `broadcasts` triggers (C)
//             "xhr"       N xhr-polling clients, sequential echo (D)
//             "idle"      N clients held open; phases driven through stdin (E)
//   client    "raw" (default) its own minimal websocket client, "ws" the ws package
//             (E always uses "raw"; xhr-polling uses a minimal HTTP/1.1 client)
//   flavour   "sio"  the Socket.IO 0.9 wire format (handshake, `1::`, `5:id+::…`, `6:::id+…`)
//             "bare" no Socket.IO: a websocket on /bare (the frame is echoed as is), or
//                    long-polling on /poll/<client> (POST a body, GET it back)
//   warmup_ms what runs before the measured window, so that a JIT (PyPy's) is warm:
//             echo, xhr: the same loops, unmeasured, for that long (the window follows
//             without a pause); broadcast: whole rounds of `broadcasts` triggers (each
//             waits for every delivery) until that long has passed (default 0: none);
//             idle: `warm` clients connected (handshake + websocket) then closed, again
//             and again, for that long (default 0: none) and until at least
//             `warmup_connections` have connected, before the measured phases
//
// It prints JSON lines on stdout: {"event": "mark", "name": ...} when a measuring
// window starts or ends (the harness samples the server's CPU and memory then), and
// one {"event": "result", ...} at the end. Commands arrive on stdin, one per line.
"use strict";

const net = require("net");
const path = require("path");
const readline = require("readline");
const { performance } = require("perf_hooks");
const WebSocket = require(path.join(__dirname, "node_modules", "ws"));

const cfg = JSON.parse(process.argv[2] || "{}");
const HOST = cfg.host || "127.0.0.1";
const PORT = cfg.port;
const SIO = cfg.flavour !== "bare";
const CONNECT_CONCURRENCY = cfg.connect_concurrency || 50;
const BROADCAST_TEXT = "tick from the benchmark, a short line of text";

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function mark(name) {
  emit({ event: "mark", name, t: performance.now() });
}

function fail(message) {
  emit({ event: "error", message });
  process.exit(2);
}

const stdinLines = [];
let stdinWaiter = null;
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  if (stdinWaiter) {
    const w = stdinWaiter;
    stdinWaiter = null;
    w(line.trim());
  } else stdinLines.push(line.trim());
});
function nextCommand() {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve) => (stdinWaiter = resolve));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function echoFrame(id, seq) {
  // A small JSON payload, the same for every server.
  const data = { seq, text: "hello, world", values: [1, 2, 3], ok: true };
  return `5:${id}+::` + JSON.stringify({ name: "echo", args: [data] });
}

// -- HTTP --------------------------------------------------------------------------------
// A minimal HTTP/1.1 client over one kept-alive TCP connection, one request at a time:
// node's http module costs several times more CPU per request than the servers under test.

const CRLF2 = Buffer.from("\r\n\r\n");

class RawHttp {
  constructor() {
    this.sock = null;
    this.buf = null;
    this.waiter = null;
  }

  _connect() {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: HOST, port: PORT, noDelay: true });
      sock.once("connect", () => {
        sock.removeListener("error", reject);
        resolve();
      });
      sock.once("error", reject);
      sock.on("data", (chunk) => {
        this.buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
        this._parse();
      });
      const gone = () => {
        if (this.sock === sock) this.sock = null;
        const w = this.waiter;
        this.waiter = null;
        if (w) w.reject(new Error("connection closed"));
      };
      sock.on("close", gone);
      sock.on("error", gone);
      this.sock = sock;
      this.buf = null;
    });
  }

  _parse() {
    const buf = this.buf;
    const w = this.waiter;
    if (!w || !buf) return;
    const end = buf.indexOf(CRLF2);
    if (end < 0) return;
    const head = buf.toString("latin1", 0, end);
    const status = parseInt(head.slice(9, 12), 10);
    const lower = head.toLowerCase();
    let bodyStart = end + 4;
    let text;
    let rest;
    const cl = /\r\ncontent-length: *(\d+)/.exec(lower);
    if (cl) {
      const len = parseInt(cl[1], 10);
      if (buf.length < bodyStart + len) return;
      text = buf.toString("utf8", bodyStart, bodyStart + len);
      rest = bodyStart + len;
    } else if (lower.includes("\r\ntransfer-encoding: chunked")) {
      const parts = [];
      let i = bodyStart;
      for (;;) {
        const eol = buf.indexOf("\r\n", i);
        if (eol < 0) return;
        const size = parseInt(buf.toString("latin1", i, eol), 16);
        if (buf.length < eol + 2 + size + 2) return;
        if (size === 0) {
          rest = eol + 4;
          break;
        }
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        i = eol + 2 + size + 2;
      }
      text = Buffer.concat(parts).toString("utf8");
    } else {
      return; // body until close: not used by the servers here
    }
    this.buf = rest < buf.length ? buf.subarray(rest) : null;
    if (/\r\nconnection: *close/.test(lower) && this.sock) {
      this.sock.destroy();
      this.sock = null;
    }
    this.waiter = null;
    w.resolve({ status, text });
  }

  async request(method, urlPath, body) {
    if (!this.sock) await this._connect();
    let head = `${method} ${urlPath} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\n`;
    let data = null;
    if (body !== undefined) {
      data = Buffer.from(body, "utf8");
      head += `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${data.length}\r\n`;
    }
    head += "\r\n";
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.sock.write(data ? Buffer.concat([Buffer.from(head, "latin1"), data]) : head);
    });
  }

  close() {
    if (this.sock) this.sock.destroy();
    this.sock = null;
  }
}

async function request(_unused, method, urlPath, body) {
  // A one-off request on its own connection (handshakes).
  const c = new RawHttp();
  try {
    return await c.request(method, urlPath, body);
  } finally {
    c.close();
  }
}

async function handshake(conn) {
  const res = await (conn ? conn.request("GET", `/socket.io/1/?t=${Date.now()}`) : request(null, "GET", `/socket.io/1/?t=${Date.now()}`));
  if (res.status !== 200) throw new Error(`handshake: HTTP ${res.status} ${res.text}`);
  return res.text.split(":")[0];
}

function decodePayload(s) {
  if (s.charCodeAt(0) !== 0xfffd) return [s];
  const out = [];
  let i = 1;
  while (i < s.length) {
    const j = s.indexOf("\ufffd", i);
    const n = parseInt(s.slice(i, j), 10);
    out.push(s.substr(j + 1, n));
    i = j + 1 + n + 1;
  }
  return out;
}

// -- websocket clients -------------------------------------------------------------------

function ZERO_MASK(mask) {
  mask.fill(0);
}

class WsClient {
  constructor(index) {
    this.index = index;
    this.ws = null;
    this.onFrame = null; // (text) => void, the workload's handler
    this.ticks = 0;
    this.lastTickAt = 0;
  }

  async connect() {
    let url;
    if (SIO) {
      const sid = await handshake();
      url = `ws://${HOST}:${PORT}/socket.io/1/websocket/${sid}`;
    } else url = `ws://${HOST}:${PORT}/bare`;
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: ZERO_MASK, // a zero masking key: the client skips the XOR, servers do not
    });
    this.ws = ws;
    await new Promise((resolve, reject) => {
      let opened = !SIO;
      ws.on("error", reject);
      ws.on("close", () => {
        if (!this.closing) emit({ event: "warning", message: `client ${this.index} closed` });
        reject(new Error("closed during connect"));
      });
      ws.on("open", () => {
        ws._socket.setNoDelay(true);
        if (opened) resolve();
      });
      ws.on("message", (data) => {
        // `data` is a Buffer: look at bytes, make strings only when needed.
        if (SIO) {
          if (!opened) {
            if (data.length === 3 && data[0] === 0x31) {
              opened = true; // "1::"
              resolve();
            }
            return;
          }
          if (data.length === 3 && data[0] === 0x32) {
            ws.send("2::"); // heartbeat
            return;
          }
        }
        if (this.onFrame) this.onFrame(data);
      });
    });
  }

  send(text) {
    this.ws.send(text);
  }

  close() {
    this.closing = true;
    if (this.ws) this.ws.terminate();
  }
}

// A websocket client written out by hand (RFC 6455, client side): a fixed
// Sec-WebSocket-Key, a zero masking key (legal; the servers still unmask), frames
// parsed straight from the socket's buffers. It costs the load generator a fraction of
// what the ws package costs per frame and per connection, so the servers are what is
// measured; `--client ws` runs the same workloads with the ws package to cross-check.
const UPGRADE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const HEARTBEAT_FRAME = Buffer.from([0x81, 0x83, 0, 0, 0, 0, 0x32, 0x3a, 0x3a]); // "2::"

function clientFrame(text) {
  const payload = Buffer.from(text, "utf8");
  const n = payload.length;
  let head;
  if (n < 126) head = Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]);
  else if (n < 65536) head = Buffer.from([0x81, 0xfe, n >> 8, n & 0xff, 0, 0, 0, 0]);
  else {
    head = Buffer.alloc(14);
    head[0] = 0x81;
    head[1] = 0xff;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

class RawWsClient {
  constructor(index) {
    this.index = index;
    this.sock = null;
    this.onFrame = null; // (payload Buffer) => void, the workload's handler
    this.ticks = 0;
    this.lastTickAt = 0;
  }

  async connect() {
    let urlPath = "/bare";
    if (SIO) urlPath = `/socket.io/1/websocket/${await handshake()}`;
    const sock = net.connect({ host: HOST, port: PORT, noDelay: true });
    this.sock = sock;
    await new Promise((resolve, reject) => {
      let buf = null;
      let upgraded = false;
      let opened = !SIO;
      sock.once("error", reject);
      sock.on("close", () => {
        if (!this.closing) emit({ event: "warning", message: `client ${this.index} closed` });
        reject(new Error("closed during connect"));
      });
      sock.on("connect", () =>
        sock.write(
          `GET ${urlPath} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${UPGRADE_KEY}\r\n` +
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
      );
      sock.on("data", (chunk) => {
        buf = buf ? Buffer.concat([buf, chunk]) : chunk;
        if (!upgraded) {
          const end = buf.indexOf(CRLF2);
          if (end < 0) return;
          if (buf.toString("latin1", 9, 12) !== "101") {
            reject(new Error(`upgrade refused: ${buf.toString("latin1", 0, end)}`));
            sock.destroy();
            return;
          }
          upgraded = true;
          buf = buf.subarray(end + 4);
          if (opened) resolve();
        }
        // Server frames are unmasked and, here, never fragmented.
        while (buf.length >= 2) {
          let len = buf[1] & 0x7f;
          let start = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            start = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            start = 10;
          }
          if (buf.length < start + len) return;
          const opcode = buf[0] & 0x0f;
          const payload = buf.subarray(start, start + len);
          buf = buf.subarray(start + len);
          if (opcode === 8) {
            sock.end();
            return;
          }
          if (opcode !== 1) continue;
          if (SIO && len === 3) {
            if (payload[0] === 0x31 && !opened) {
              opened = true; // "1::"
              resolve();
              continue;
            }
            if (payload[0] === 0x32) {
              sock.write(HEARTBEAT_FRAME);
              continue;
            }
          }
          if (opened && this.onFrame) this.onFrame(payload);
        }
        if (!buf.length) buf = null;
      });
    });
  }

  send(text) {
    this.sock.write(clientFrame(text));
  }

  close() {
    this.closing = true;
    if (this.sock) this.sock.destroy();
  }
}

const WS_CLIENT = cfg.client === "ws" ? WsClient : RawWsClient;

async function connectAll(n, Factory) {
  const clients = new Array(n);
  let next = 0;
  let errors = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      const c = new Factory(i);
      for (let attempt = 0; ; attempt++) {
        try {
          await c.connect();
          break;
        } catch (err) {
          errors++;
          if (attempt >= 2) throw new Error(`client ${i}: ${err.message}`);
          await sleep(100);
        }
      }
      clients[i] = c;
    }
  }
  const workers = [];
  for (let w = 0; w < Math.min(CONNECT_CONCURRENCY, n); w++) workers.push(worker());
  await Promise.all(workers);
  return { clients, errors };
}

// -- statistics ------------------------------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

function latencyStats(samples) {
  const s = Float64Array.from(samples).sort();
  return { p50_ms: percentile(s, 50), p99_ms: percentile(s, 99), samples: s.length };
}

function cpuWindow() {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const c = process.cpuUsage(c0);
    const wall = performance.now() - t0;
    return (c.user + c.system) / 1000 / wall; // share of one core
  };
}

// -- workloads ---------------------------------------------------------------------------

// A sequential echo loop on one connection; `send(text)` and a resolver per reply.
function makeEcho(client) {
  let pending = null;
  let id = 0;
  client.onFrame = (data) => {
    // Sequential echo: the reply is the next ack (`6:::<id>+…`), or any frame when bare.
    if (!pending) return;
    if (SIO && data[0] !== 0x36) return;
    const p = pending;
    pending = null;
    p.resolve(data);
  };
  return (seq) => {
    id++;
    const frame = echoFrame(id, seq);
    return new Promise((resolve) => {
      pending = { prefix: `6:::${id}+`, resolve, frame };
      client.send(frame);
    });
  };
}

function canonical(value) {
  // JSON with sorted keys: servers may order an object's keys differently.
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  if (value && typeof value === "object")
    return "{" + Object.keys(value).sort().map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
  return JSON.stringify(value);
}

async function checkEcho(reply, frame) {
  // The first reply of each kind of server is checked once: same data back.
  reply = reply.toString();
  if (!SIO) {
    if (reply !== frame) fail(`bare echo mismatch: ${reply.slice(0, 80)}`);
    return;
  }
  if (!reply.startsWith("6:::1+")) fail(`not the ack of message 1: ${reply.slice(0, 80)}`);
  const sent = JSON.parse(frame.slice(frame.indexOf("::") + 2)).args;
  const got = JSON.parse(reply.slice(reply.indexOf("+") + 1));
  if (canonical(got) !== canonical(sent))
    fail(`echo mismatch: sent ${JSON.stringify(sent)}, got ${reply.slice(0, 80)}`);
}

async function runEchoLoops(senders, warmupMs, durationMs) {
  const latencies = [];
  let count = 0;
  let measuring = false;
  let running = true;
  let seq = 0;
  const first = senders[0];
  {
    const frame = echoFrame(1, 0);
    const reply = await first.sendRaw(0);
    await checkEcho(reply, frame);
  }
  async function loop(send) {
    while (running) {
      const t = performance.now();
      await send(seq++);
      if (measuring) {
        latencies.push(performance.now() - t);
        count++;
      }
    }
  }
  const loops = senders.map((s) => loop(s.send));
  await sleep(warmupMs);
  measuring = true;
  mark("start");
  const cpu = cpuWindow();
  const t0 = performance.now();
  await sleep(durationMs);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  const share = cpu();
  mark("end");
  running = false;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  return { msgs_per_s: count / elapsed, messages: count, client_cpu: share, ...latencyStats(latencies) };
}

async function workloadEcho() {
  const { clients, errors } = await connectAll(cfg.clients, WS_CLIENT);
  mark("connected");
  const senders = clients.map((c) => {
    const send = makeEcho(c);
    return { send, sendRaw: send };
  });
  const result = await runEchoLoops(senders, cfg.warmup_ms, cfg.duration_ms);
  clients.forEach((c) => c.close());
  return { ...result, connect_errors: errors };
}

async function workloadBroadcast() {
  const n = cfg.clients;
  const total = cfg.broadcasts;
  const { clients, errors } = await connectAll(n, WS_CLIENT);
  const trigger = clients[0];
  // One round: `total` triggers from client 0, until every client has its `total` ticks.
  async function round(timeoutMs) {
    let done = 0;
    let finish;
    const finished = new Promise((r) => (finish = r));
    let delivered = 0;
    for (const c of clients) {
      c.ticks = 0;
      c.lastTickAt = 0;
      c.onFrame = (data) => {
        if (data[0] !== 0x35) return; // '5': an event (or the bare frame)
        delivered++;
        if (++c.ticks === total) {
          c.lastTickAt = performance.now();
          if (++done === n) finish();
        }
      };
    }
    const t0 = performance.now();
    for (let i = 0; i < total; i++)
      trigger.send(`5:::` + JSON.stringify({ name: "broadcast", args: [i, BROADCAST_TEXT] }));
    const timedOut = await Promise.race([finished.then(() => false), sleep(timeoutMs).then(() => true)]);
    const tEnd = timedOut ? performance.now() : Math.max(...clients.map((c) => c.lastTickAt));
    for (const c of clients) c.onFrame = null;
    return { t0, tEnd, delivered, timedOut };
  }
  let warmupRounds = 0;
  if (cfg.warmup_ms > 0) {
    const until = performance.now() + cfg.warmup_ms;
    while (performance.now() < until) {
      const r = await round(cfg.timeout_ms);
      warmupRounds++;
      if (r.timedOut) {
        emit({ event: "warning", message: `warm-up round ${warmupRounds} timed out` });
        break;
      }
    }
  }
  await sleep(cfg.settle_ms || 500);
  mark("start");
  const cpu = cpuWindow();
  const { t0, tEnd, delivered, timedOut } = await round(cfg.timeout_ms);
  const share = cpu();
  mark("end");
  const secs = (tEnd - t0) / 1000;
  clients.forEach((c) => c.close());
  return {
    deliveries_per_s: delivered / secs,
    deliveries: delivered,
    expected: n * total,
    last_delivery_ms: tEnd - t0,
    timed_out: timedOut,
    client_cpu: share,
    connect_errors: errors,
    warmup_rounds: warmupRounds,
  };
}

class XhrClient {
  constructor(index) {
    this.index = index;
    this.getConn = new RawHttp(); // the long-poll GETs
    this.postConn = new RawHttp(); // the POSTs
    this.pending = null;
    this.running = true;
    this.id = 0;
  }

  async connect() {
    if (SIO) {
      const sid = await handshake(this.postConn);
      this.base = `/socket.io/1/xhr-polling/${sid}`;
    } else this.base = `/poll/${this.index}-${Math.random().toString(36).slice(2)}`;
    let opened;
    const open = new Promise((r) => (opened = r));
    if (!SIO) opened();
    const poll = async () => {
      while (this.running) {
        let res;
        try {
          res = await this.getConn.request("GET", `${this.base}?t=${Date.now()}`);
        } catch (err) {
          if (this.running) emit({ event: "warning", message: `poll ${this.index}: ${err.message}` });
          return;
        }
        if (res.status !== 200) fail(`poll: HTTP ${res.status} ${res.text.slice(0, 80)}`);
        for (const pkt of decodePayload(res.text)) {
          if (pkt === "8::" || pkt === "2::") continue;
          if (pkt === "1::") {
            opened();
            continue;
          }
          const p = this.pending;
          if (!p) continue;
          if (SIO && !pkt.startsWith(p.prefix)) continue;
          this.pending = null;
          p.resolve(pkt);
        }
      }
    };
    this.poller = poll();
    await open;
  }

  sendRaw(seq) {
    this.id++;
    const frame = echoFrame(this.id, seq);
    const reply = new Promise((resolve) => {
      this.pending = { prefix: `6:::${this.id}+`, resolve };
    });
    return this.postConn.request("POST", `${this.base}?t=${Date.now()}`, frame).then((res) => {
      if (res.status !== 200) fail(`post: HTTP ${res.status} ${res.text.slice(0, 80)}`);
      return reply;
    });
  }

  close() {
    this.running = false;
    this.getConn.close();
    this.postConn.close();
  }
}

async function workloadXhr() {
  const { clients, errors } = await connectAll(cfg.clients, XhrClient);
  mark("connected");
  const senders = clients.map((c) => ({ send: (seq) => c.sendRaw(seq), sendRaw: (seq) => c.sendRaw(seq) }));
  // The check in runEchoLoops builds its frame with id 1: the first request uses it.
  const result = await runEchoLoops(senders, cfg.warmup_ms, cfg.duration_ms);
  clients.forEach((c) => c.close());
  return { ...result, connect_errors: errors };
}

async function workloadIdle() {
  // Phase 0 (warmup_ms > 0): `warm` clients connected and closed, again and again, so
  // that the handshake and websocket connect path is JIT-compiled before it is measured.
  // At most `warm` are open at once: the memory they leave free is taken again by the
  // `warm` clients of phase 1, before the harness reads the RSS it subtracts.
  // Phase 1: `warm` clients (the harness then reads the server's RSS), phase 2: the rest.
  const warm = cfg.warm;
  let warmupConnections = 0;
  let warmupErrors = 0;
  if (cfg.warmup_ms > 0) {
    const until = performance.now() + cfg.warmup_ms;
    const atLeast = cfg.warmup_connections || 0;
    while (performance.now() < until || warmupConnections < atLeast) {
      const batch = await connectAll(warm, RawWsClient);
      batch.clients.forEach((c) => c.close());
      warmupConnections += warm;
      warmupErrors += batch.errors;
    }
    await sleep(500); // the server sees the last batch's closes
  }
  const first = await connectAll(warm, RawWsClient);
  mark("warm");
  const cmd = await nextCommand();
  if (cmd !== "go") fail(`unexpected command ${cmd}`);
  const cpu = cpuWindow();
  const t0 = performance.now();
  const rest = await connectAll(cfg.clients - warm, RawWsClient);
  const secs = (performance.now() - t0) / 1000;
  const share = cpu();
  mark("connected");
  await nextCommand(); // "done": the harness has read the RSS
  const all = first.clients.concat(rest.clients);
  all.forEach((c) => c.close());
  return {
    handshakes_per_s: (cfg.clients - warm) / secs,
    connected: all.length,
    client_cpu: share,
    connect_errors: first.errors + rest.errors,
    warmup_connections: warmupConnections,
    warmup_connect_errors: warmupErrors,
  };
}

const WORKLOADS = { echo: workloadEcho, broadcast: workloadBroadcast, xhr: workloadXhr, idle: workloadIdle };

async function main() {
  const run = WORKLOADS[cfg.workload];
  if (!run) fail(`unknown workload ${cfg.workload}`);
  const result = await run();
  emit({ event: "result", ...result });
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
