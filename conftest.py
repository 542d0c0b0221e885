"""The project's top-level conftest: the test fixtures tradekit ships, loaded on request.

They are not pytest11 entry points, so nobody who installs tradekit or tradekit-bithumb gets
them in their own pytest runs; this project (like any plugin author) asks for them here.
"""

pytest_plugins = [
    "tradekit.testing.pytest_plugin",
    "tradekit_bithumb.testing.pytest_plugin",
]
