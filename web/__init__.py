"""The dashboard (web/): it reads through storage's queries and renders, as reports do, and it
owns the accounts' credentials: password hashing, API tokens and the role checks
(`web.accounts`). Storage keeps only the hashes it is given.

`web.app` is the FastAPI app `meiyu serve` runs, `web.security` its cookies, throttle and
headers, `web.overview` what the overview page reads. It imports the kernel, storage, reports
and nlp, never pipelines, crawlers or the CLI (the import contracts in pyproject.toml).
"""
