"""The indexer: our package's events, from the chain's checkpoints into the database, exactly once.

- `service`: `Indexer`, start-up checks and the task group (ingest -> decode -> commit, progress, stop).
- `ingestion`: subscribe, backfill from the watermark, follow, reconnect; `Regulator` (max_ahead).
- `decode`: which events are ours, decoded into row changes or kept raw as rejections.
- `commit`: one transaction per batch: builds, SSE events, enclaves, rejections, watermark, NOTIFY.
- `wire`, `grpc_source`: the hot path's own gRPC reader and protobuf frame parser.
- `metrics`: Prometheus metrics and the `/metrics` endpoint.

`daas indexer` (`daas/cli/indexer_cmd.py`) runs it; `docs/ARCHITECTURE.md` draws it.
"""
