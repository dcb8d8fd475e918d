"""`kornews serve RUN`: a REST API and a web page over one run's classifier (FastAPI + uvicorn).

    POST /v1/classify        one article {title, body, id?} or a batch {articles: [...]}
    POST /v1/classify/file   a CSV / TSV / JSONL / Parquet upload, predictions back as CSV or JSONL
    GET  /v1/labels, /v1/model, /health; /docs (OpenAPI); / (the page)
    GET  /v1/monitor, /metrics  the last articles against the run's reference (Prometheus' text at /metrics)

Concurrent requests are gathered by a `Batcher` into one model call, run on one thread beside the event loop.
Every error reaches the client as {"error": {"status", "message"}} and the log as one line; never a traceback.

    app       Settings, the Service a run gives the routes, create_app (the routes), serve (uvicorn)
    guard     the ASGI guard: API key, body-size limit, the catch-all 500
    batcher   the Batcher
    schemas   the request and response models
    watch     the monitoring window (fixed arrays) and its Prometheus text
"""
from kornews.serve.app import Settings, create_app, serve
from kornews.serve.batcher import Batcher

__all__ = ["Batcher", "Settings", "create_app", "serve"]
