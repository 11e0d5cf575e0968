"""What flows through the core: config, requests, results, findings and errors.

Owns the pydantic models every other package passes around (`config`, `requests`, `results`,
`findings`), the error hierarchy (`errors`) and the JSON Schema generated from the config
(`settings_schema`). May import: pydantic, the standard library, `orchestration.privacy.trust`
(which imports nothing of Chorus) and `orchestration.memory.settings` (pydantic only).
"""
