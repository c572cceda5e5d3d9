"""WSGI entry point for production servers: `gunicorn 'scheduler.wsgi:app'`."""
from . import create_app, freeze_startup_objects

app = create_app()
freeze_startup_objects()
