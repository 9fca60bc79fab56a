"""The demo's and tests' fixture world: a generated corpus served over real local HTTP."""
