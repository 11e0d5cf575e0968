"""The server's features, one module each; each module's `register(server)` adds its handlers.

`server.app.create_server` imports and registers them (modules with commands import
`server.app` at run time, since pygls reads the commands' type hints).
"""
