"""The tasks: review, implement, explain, built on one pipeline skeleton.

Owns the skeleton every task shares (open the request, plan and admit seats, fan out, parse, merge,
arbitrate, restore redacted secrets, report events) and the three tasks on it: `review`
(with `chunking` for selections over a seat's budget), `implement` and `explain`. May import every
other core package. Faces call these; nothing in the core imports them except `machine_form`'s
callers.
"""
