"""ASGI entry point: ``uvicorn api.main:app`` / ``gunicorn -k uvicorn_worker.UvicornWorker
api.main:app``. The database comes from WASTEROUTE_DB (migrated at start)."""

from api.app import create_app

app = create_app()
