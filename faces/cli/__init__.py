"""The `chorus` command line: review, implement, explain, models and trust from a terminal.

Owns argument parsing and exit codes (`main`), the human reports (`report`, rich), the model check
(`models_check`) and terminal-safe output (`terminal`: model text never reaches the terminal as
escape sequences or markup). May import: `orchestration`, rich, the standard library.
"""
