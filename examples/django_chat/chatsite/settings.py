"""Settings of the Django chat example: the least a Django project needs, no database."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = ["chat"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "chatsite.urls"
WSGI_APPLICATION = "chatsite.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
    }
]
DATABASES: dict = {}
USE_TZ = True
TIME_ZONE = "UTC"

# The Socket.IO 0.9 browser client (npm package socket.io-client@0.9.16) served
# at /socket.io/socket.io.js; ./run installs it in examples/node_modules. With
# None, the server searches node_modules above the working directory.
SOCKETIO_CLIENT_JS = BASE_DIR.parent / "node_modules" / "socket.io-client" / "dist" / "socket.io.js"
