"""The page of the chat."""

from django.shortcuts import render


def index(request):
    return render(request, "chat/index.html", {"title": "Django chat"})
