"""meiyu (美誉): the application shell — the `meiyu` command, its jobs and the demo.

Owns what the user touches: the `meiyu` command (`meiyu.cli`) and its exit codes, the jobs the
scheduler runs (`meiyu.jobs`), request files (`meiyu.jsonl`) and the demo (`meiyu.demo`). It
wires the packages together but holds no crawling, NLP, SQL or rendering; config models and
errors live in the bottom `kernel` package.
"""

from kernel import __version__

__all__ = ["__version__"]
