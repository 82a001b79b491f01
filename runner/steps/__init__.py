"""The steps of a build, one module each, in the order a build goes through them.

`fetch` (download the bundle, check it against the spec, unpack it safely) → `build` (Docker, limits, live
log) → `export` (OCI image, Kubernetes manifest and log on Walrus) → `attest` (sign the result) → `submit`
(post `complete` or `fail` exactly once). `runner.pipeline` strings them together and records each step.
"""
