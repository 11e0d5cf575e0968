"""What may leave the machine: the privacy gate, secret detection, redaction round trips, trust.

Owns `gate.PrivacyGate` (every model call passes it: exclusions, `local_only`, outbound redaction,
scrubbing by secret value), `secrets` (linear-time secret detection), `roundtrip` (fixes that would
write a placeholder get the secret back or are withheld) and `trust` (which workspaces' configs may
set hosts, key variables and commands). May import: `orchestration.types`, detect-secrets, the
standard library. `secrets` and `trust` import nothing of Chorus.
"""
