"""The dashboard (web/): it reads through storage's queries and renders, as reports do, and it
owns the accounts' credentials: password hashing, API tokens and the role checks
(`web.accounts`). Storage keeps only the hashes it is given.

`web.app` is the FastAPI app `meiyu serve` runs, `web.security` its cookies, throttle and
headers, `web.kit` what every page module is given, `web.cache` what the pages keep from the
stored series, and one module per page group (overview, indicator, items, weekly, alerts,
audit, reports, exports, admin). It imports the kernel, storage, reports and nlp, never
pipelines, crawlers or the CLI (the import contracts in pyproject.toml): what it needs of
pipelines (the audit sample and labels, a channel's test message) the CLI passes in as hooks.
"""
