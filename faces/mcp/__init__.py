"""The MCP face: `chorus mcp` serves Chorus's panel and memory to coding agents as MCP tools.

Owns `server` (the `MCPServer` from the official SDK, its tools and transports: stdio, or
streamable HTTP on loopback), `tasks` (review, implement and explain run through the core's
pipelines, with a progress notification per seat and the machine form as structured content),
`memory_tools` (stats, history, show_run, feedback and recall, read from the same store the CLI
and the language server write) and `setup` (config, workspace trust and one-line errors, the
same as the CLI's). May import: `orchestration`; from the CLI only what a command line and an
agent both point at (`faces.cli.targets`, `faces.cli.main.workspace_root`,
`faces.cli.memory_commands.parse_since`); `mcp`, `anyio`, `pydantic`.
"""
