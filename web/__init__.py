"""The dashboard (web/): it reads through storage's queries and renders, as reports do, and it
owns the accounts' credentials: password hashing, API tokens and the role checks
(`web.accounts`). Storage keeps only the hashes it is given.

It imports the kernel, storage, reports and nlp, never pipelines, crawlers or the CLI (the
import contracts in pyproject.toml). No server yet: the accounts come first (issue 14).
"""
