"""The API's routers, one module per domain; `api.app.create_app` includes them all."""
