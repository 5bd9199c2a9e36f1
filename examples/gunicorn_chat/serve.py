"""Start the gunicorn chat with one command: a Redis, then ``gunicorn -w 4``.

    python serve.py [--host 127.0.0.1] [--port 8084] [--workers 4] [--redis URL]

Without ``--redis``, a private redis-server is started on a free port of
127.0.0.1 (persisting nothing, its files in a temporary directory) and
stopped with the chat. Ctrl-C
(or SIGTERM) stops gunicorn, then Redis.
"""

import argparse
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent


def start_redis(directory: str) -> tuple[subprocess.Popen, str]:
    """A redis-server on a free port of 127.0.0.1, its files in ``directory``; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", directory, *options]
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("redis-server did not start (apt-get install redis-server)")
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def stop(proc: subprocess.Popen, wait: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--redis", default=None, help="a Redis URL (default: start one)")
    args = parser.parse_args()
    # SIGTERM ends this process as Ctrl-C does: through the finally clauses below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tempfile.TemporaryDirectory(prefix="gunicorn-chat-") as directory:
        redis = None
        url = args.redis
        if url is None:
            redis, url = start_redis(directory)
        try:
            command = [sys.executable, "-m", "gunicorn", "-k", "app.Worker"]
            command += ["-w", str(args.workers), "-b", f"{args.host}:{args.port}"]
            command += ["--graceful-timeout", "3", "app:application"]
            gunicorn = subprocess.Popen(
                command,
                cwd=HERE,
                env={**os.environ, "CHAT_REDIS_URL": url},
            )
            print(
                f"chat on http://{args.host}:{args.port}/ ({args.workers} workers, Redis {url})",
                flush=True,
            )
            try:
                gunicorn.wait()
            except KeyboardInterrupt:
                pass  # (gunicorn got the Ctrl-C too)
            finally:
                stop(gunicorn, 4)
        finally:
            if redis is not None:
                stop(redis, 2)


if __name__ == "__main__":
    main()
