"""The plugin sandbox: each plugin's requests served by its own supervised gunicorn worker processes, with limits.

`limits` (what a plugin may use), `confine` (what a worker applies to itself), `worker` (the gunicorn application
of one plugin), `proxy` (the host's WSGI app that reaches a plugin's workers over a Unix socket) and `supervisor`
(the host's pools: start, restart with backoff, accounting).
"""
