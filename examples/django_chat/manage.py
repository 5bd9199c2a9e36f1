#!/usr/bin/env python
"""Django's command-line utility for this example: ``python manage.py runsocketio``."""

# The Socket.IO server runs on gevent: patch the standard library before
# Django (or anything else) imports it.
from gevent import monkey

monkey.patch_all()

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
