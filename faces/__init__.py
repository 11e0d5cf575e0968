"""The faces of Chorus besides the language server (`server`): the command line, room for MCP.

A face is thin: it loads config, runs a pipeline of `orchestration.pipelines` and prints or sends
its machine form (`orchestration.machine_form`). Faces may import the core; the core never
imports a face.
"""
