"""`python -m meiyu.cli`: the `meiyu` command."""

from meiyu.cli import main

main()
