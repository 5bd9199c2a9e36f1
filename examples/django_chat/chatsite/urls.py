"""URLs: the chat page, and every /socket.io/ request to socketio.sdjango's view."""

from chat import views
from django.urls import include, path, re_path

from socketio import sdjango

# Import chat/sockets.py (and the sockets.py of every other installed app), so
# their @namespace classes are registered.
sdjango.autodiscover()

urlpatterns = [
    path("", views.index, name="index"),
    re_path(r"^socket\.io", include(sdjango.urls)),
]
