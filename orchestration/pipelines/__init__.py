"""The tasks: review, implement, explain, built on one pipeline skeleton.

Owns `skeleton` (the `Pipeline` base every task shares: check and open the request, plan and admit
seats, fan out, parse, build the result, arbitrate, restore redacted secrets, report events; room
for multi-step workflows over one opened request) and the three tasks on it, each a subclass that
supplies only what differs: `review` (with `chunking` for selections over a seat's budget),
`implement` and `explain`. Their public functions (`review_selection`, `implement_stub`,
`explain_diagnostics`) are the classes' `answer`. May import every other core package. Faces call
these; nothing else in the core imports them.
"""
