"""The govsvc adapter contract, run against 示例县民政局."""

from govsvc.testing.contract import *  # noqa: F403

pytest_plugins = ["govsvc.testing"]
