"""The server's features, one module each; each module's `register(server)` adds its handlers.

`server.app.create_server` imports and registers them. Features import the server type from
`server.language_server` (at run time where pygls reads a command's type hints) and the shared
run block from `server.runs`. Two features serve the others: `documents` publishes diagnostics
(for review) and `progress` reports a run's progress (for `server.runs`).
"""
