"""A real nginx in front of test servers: round robin, no ``ip_hash``, websockets passed.

``./run`` installs nginx from apt (``/usr/sbin/nginx``). :class:`Nginx` runs
it in the foreground (``daemon off``) with its configuration, pid file, logs
and temporary files in a directory of its own, as docs/scaling.rst configures
it but without stickiness. Its access log names the backend of each request
(``$upstream_addr``), so a test can tell which server answered what.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import subprocess

import pytest

from tests.client09.http import wait_http

from .conftest import free_port

#: Debian's nginx (``./run`` installs it); ``$NGINX`` may name another one.
NGINX = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"

CONF = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$upstream_addr "$request" $status';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream socketio {{
        # round robin: no ip_hash, no hash, nothing sticky
{servers}
    }}

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://socketio;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""

_LINE = re.compile(r'^(\S+) "(\S+) (\S+) [^"]*" (\d+)$')


class Nginx:
    """nginx on a free port, proxying to ``backends`` (``host:port``) in turn.

    Attributes:
        url: ``http://127.0.0.1:<port>``.
        directory: its configuration, logs and temporary files.
    """

    def __init__(self, directory: pathlib.Path, backends: list[str]) -> None:
        if not pathlib.Path(NGINX).exists():
            pytest.fail("nginx is not installed: ./run test installs it (apt-get install nginx)")
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backends = backends
        conf = directory / "nginx.conf"
        conf.write_text(
            CONF.format(
                # (as root, its workers would switch to "nobody", who cannot use this directory)
                user="user root;\n" if os.geteuid() == 0 else "",
                dir=directory,
                port=self.port,
                servers="\n".join(f"        server {b};" for b in backends),
            )
        )
        self.proc = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(directory),
                "-e",
                str(directory / "error.log"),
                "-c",
                str(conf),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(self.url + "/", proc=self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"nginx did not start:\n{self.errors()}") from None

    def errors(self) -> str:
        path = self.directory / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def upstreams(self, sid: str) -> list[str]:
        """The backends (``host:port``) that answered the requests for ``sid``, in order."""
        path = self.directory / "access.log"
        found = []
        for line in path.read_text().splitlines() if path.exists() else []:
            match = _LINE.match(line)
            if match and f"/{sid}" in match.group(3):
                # ("a, b" when nginx tried a backend that refused, then the next)
                found.append(match.group(1).split(", ")[-1])
        return found

    def stop(self) -> None:
        """Quick shutdown (SIGTERM), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
