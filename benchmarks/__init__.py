"""The benchmark suite of gevent-socketio (see ``benchmarks/README.md``).

``python -m benchmarks`` runs workloads A-E against this library, the
reference server (socket.io 0.9.19 in node) and a bare gevent-websocket
server, with a node load generator (``loadgen.js``), and prints a table.
"""
