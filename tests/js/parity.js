'use strict';
// Runs the parser of the real socket.io-client 0.9.16 (lib/parser.js, the code
// browsers run) on calls given as JSON on stdin:
//
//   {"calls": [["encodePacket", {...}], ["decodePacket", "5:::..."],
//              ["encodePayload", ["3:::a", "3:::b"]], ["decodePayload", "..."]]}
//
// and prints {"version": "0.9.16", "results": [...]} with one result per call.
// Values JSON cannot show are made visible instead of dropped: a property or
// array item that is `undefined` becomes {"$undefined": true}, a thrown
// exception becomes {"$throw": "<message>"}.

const fs = require('fs');
const io = require('socket.io-client');
const version = require('socket.io-client/package.json').version;

const parser = io.parser;
const FUNCTIONS = ['encodePacket', 'decodePacket', 'encodePayload', 'decodePayload'];

function visible(key, value) {
  return value === undefined ? { $undefined: true } : value;
}

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const results = input.calls.map(function (call) {
  const name = call[0];
  if (FUNCTIONS.indexOf(name) < 0) throw new Error('unknown function ' + name);
  try {
    const result = parser[name](call[1]);
    return result === undefined ? { $undefined: true } : result;
  } catch (e) {
    return { $throw: String(e && e.message) };
  }
});

process.stdout.write(JSON.stringify({ version: version, results: results }, visible));
