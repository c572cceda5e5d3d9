"""WSGI entry point for production servers: `gunicorn 'scheduler.wsgi:app'`."""
from . import create_app

app = create_app()
