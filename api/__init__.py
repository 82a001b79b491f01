"""The DaaS HTTP API: REST for builds, live build events over SSE, a read-only OCI registry, health, metrics.

Build the ASGI application with `api.app.create_app(settings)`; `daas api` serves it with uvicorn. Nothing here
creates an app, an engine or a client at import time.
"""
