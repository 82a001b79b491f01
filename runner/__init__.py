"""The runner: from a claimed build request to a signed result on chain.

`service` (the process: claiming, heartbeat, periodic work, graceful stop), `pipeline` (one build to one
outcome), `steps/` (fetch, build, export, attest, submit), `lease`, `recorder` and `buildlog` (what is written
per build), `periodic`, `layer_cache`, `outcome`, `logfmt`. See docs/ARCHITECTURE.md, section Runner.
"""
