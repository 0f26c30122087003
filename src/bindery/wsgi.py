"""WSGI entry point served by granian (``bindery web``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bindery.settings")
application = get_wsgi_application()
