r"""One Socket.IO 0.9 client on the wire, for the tests and the benchmarks.

It speaks the protocol by hand, independently of :mod:`socketio`, so the
server is checked against the protocol and not against itself. The package
imports nothing at its top so a benchmark can take :mod:`.raw` alone.

- :mod:`.framing`: the ``\ufffd<length>\ufffd`` payload framing (lengths in
  UTF-16 code units, as JavaScript counts them), packets, JSONP and htmlfile.
- :mod:`.handshake`: ``GET /socket.io/1/`` and the transport URLs.
- :mod:`.websocket`: a websocket client (``websocket-client``).
- :mod:`.polling`: an xhr-polling or jsonp-polling client (``requests``).
- :mod:`.http`: raw HTTP streams for responses that never end.
- :mod:`.raw`: websocket and polling clients on gevent sockets, for servers in
  the same process (the benchmarks count their instructions).
- :mod:`.waiting`: :func:`~.waiting.wait_for`, to wait on observable state.
"""
