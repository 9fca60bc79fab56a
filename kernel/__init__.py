"""The bottom kernel: what every layer may import, and which imports none of them.

Owns the validated configuration (`kernel.config`: indicators, sources, their definitions and
versions), the errors every command turns into one line (`kernel.errors`), and cron parsing
(`kernel.cron`). It imports only the standard library and third-party packages: never
crawlers, nlp, pipelines, storage, reports, scheduler or the CLI (checked by the import
contracts in pyproject.toml, run by `make lint`).
"""

__version__ = "0.1.0"
