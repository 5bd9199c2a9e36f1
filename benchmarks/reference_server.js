#!/usr/bin/env node
// The reference server, socket.io 0.9.19, running the benchmark application:
// `echo` acks its arguments back, `broadcast` emits `tick` with its arguments to every
// socket. The same application as benchmarks/ours_app.py.
//
//   node reference_server.js PORT
"use strict";

const path = require("path");
const io = require(path.join(__dirname, "node_modules", "socket.io")).listen(
  parseInt(process.argv[2], 10),
  { "log level": 1 }
);

io.set("log level", 1); // warnings and errors only, as our app logs
io.set("transports", ["websocket", "xhr-polling"]);

io.sockets.on("connection", (socket) => {
  socket.on("echo", function () {
    const args = Array.prototype.slice.call(arguments);
    const ack = args.pop();
    if (typeof ack === "function") ack.apply(null, args);
  });
  socket.on("broadcast", function () {
    const args = Array.prototype.slice.call(arguments);
    io.sockets.emit.apply(io.sockets, ["tick"].concat(args));
  });
});
