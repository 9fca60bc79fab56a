"""The demo: a generated fixture world (`meiyu.demo.fixturesite`) served over local HTTP, and
the config that points the real pipeline at it (`meiyu.demo.month`).

Demo only: nothing below the CLI imports it. Tests and benches use the fixture world as the
hermetic stand-in for the sources.
"""
