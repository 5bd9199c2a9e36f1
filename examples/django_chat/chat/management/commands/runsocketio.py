"""``python manage.py runsocketio [host:port]``: serve the project with SocketIOServer."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from django.core.wsgi import get_wsgi_application

from socketio.server import SocketIOServer

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Serve the project, Socket.IO included, with gevent-socketio's SocketIOServer."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        host, _, port = addrport.rpartition(":")
        host = host or "127.0.0.1"
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        client_js = getattr(settings, "SOCKETIO_CLIENT_JS", None)
        server = SocketIOServer(
            (host, int(port)),
            get_wsgi_application(),
            policy_server=False,
            client_js=str(client_js) if client_js and client_js.exists() else None,
        )
        log.info("Django chat on http://%s:%s/", host, port)
        server.serve_forever()
