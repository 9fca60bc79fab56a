"""The bottom kernel: what every layer may import, and which imports none of them.

Owns the validated configuration (`kernel.config`: indicators, sources, their definitions and
versions), the table of source kinds (`kernel.sources`), the errors every command turns into
one line (`kernel.errors`), calendar periods (`kernel.periods`), model and series identity
(`kernel.identity`), typed indicator values and stored tests (`kernel.values`), alert rule
names (`kernel.alerts`), the audit file's format (`kernel.audit`), the dashboard's account
roles (`kernel.roles`) and cron parsing (`kernel.cron`). It imports only the standard library
and third-party packages: never crawlers, nlp, pipelines, storage, reports, web, scheduler or
the CLI (checked by the import contracts in pyproject.toml, run by `make lint`).
"""

__version__ = "0.1.0"
