"""meiyu (美誉): the application shell — config, CLI, demo and its fixture world.

Owns what the user touches: `meiyu.toml` validation, the `meiyu` command and its exit codes,
and the demo. It wires the packages together but holds no crawling, NLP, SQL or rendering.
"""

__version__ = "0.1.0"
