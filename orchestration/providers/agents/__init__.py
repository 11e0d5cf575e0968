"""Coding-agent CLIs as panel seats: profiles as data, the throwaway workspace, the runner.

`agent/...` model ids (`agent/claude`) go to `provider.AgentProvider`, registered under that prefix
in the provider registry (`orchestration.providers.chat.PROVIDERS`). The request says
which workspace an agent may read with `scope.agent_scope`. `profiles` holds the five CLIs as data,
`output` reads what they print, `sandbox` makes the throwaway copy, `process` runs and kills them,
`followup` asks a seat about a finding, `status` tells `chorus models` about each CLI.
"""
