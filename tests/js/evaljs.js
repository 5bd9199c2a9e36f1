'use strict';
// Evaluates server output the way a browser's script engine would, with the
// globals the socket.io-client 0.9.16 transports provide stubbed out.
// Input (stdin, JSON): {"jobs": [job, ...]}; output: {"results": [result, ...]}.
//
//   {"kind": "jsonp", "index": 3, "code": "io.j[3](\"...\");"}
//       runs code with io = {j: [...]} where io.j[index] records its argument
//       (jsonp-polling GET answers and JSONP handshakes).
//   {"kind": "htmlfile", "code": "_(\"...\");"}
//       runs code with a global `_` that records its argument (htmlfile chunks).
//   {"kind": "preamble", "code": "var _ = ...", "probe": "..."}
//       runs the htmlfile opening script with parent.s._ recording, then calls
//       _(probe) as a later chunk would.
//   {"kind": "form", "payload": "..."}
//       the body the jsonp-polling transport posts: a urlencoded form whose
//       textarea `d` holds JSON.stringify(payload) (lib/transports/jsonp-polling.js).
//
// A result is {"calls": [arg, ...]} (an Error argument shows as
// {"$error": message}), {"body": "..."} for forms, or {"$throw": message}.

const fs = require('fs');
const vm = require('vm');

function describe(arg) {
  if (Object.prototype.toString.call(arg) === '[object Error]') {
    return { $error: String(arg.message) };
  }
  return arg;
}

function recorder(calls) {
  return function () {
    const args = Array.prototype.slice.call(arguments);
    calls.push(args.length === 1 ? describe(args[0]) : args.map(describe));
  };
}

function run(job) {
  const calls = [];
  if (job.kind === 'jsonp') {
    const j = [];
    j[job.index] = recorder(calls);
    vm.runInNewContext(job.code, { io: { j: j } }, { timeout: 1000 });
    return { calls: calls };
  }
  if (job.kind === 'htmlfile') {
    vm.runInNewContext(job.code, { _: recorder(calls) }, { timeout: 1000 });
    return { calls: calls };
  }
  if (job.kind === 'preamble') {
    const record = recorder(calls);
    const documentStub = { title: 'htmlfile' };
    const context = vm.createContext({
      parent: { s: { _: function (msg, doc) { record(msg); if (doc !== documentStub) throw new Error('wrong document'); } } },
      document: documentStub,
    });
    vm.runInContext(job.code, context, { timeout: 1000 });
    vm.runInContext('_(' + JSON.stringify(job.probe) + ');', context, { timeout: 1000 });
    return { calls: calls };
  }
  if (job.kind === 'form') {
    return { body: new URLSearchParams({ d: JSON.stringify(job.payload) }).toString() };
  }
  throw new Error('unknown job kind ' + job.kind);
}

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const results = input.jobs.map(function (job) {
  try {
    return run(job);
  } catch (e) {
    return { $throw: String(e && e.message) };
  }
});
process.stdout.write(JSON.stringify({ results: results }));
