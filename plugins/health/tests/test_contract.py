"""The govsvc department adapter contract suite, run against the commission's simulator.

The department and the sample parties come from ``conftest.py``
(``govsvc_contract_department``, ``govsvc_contract_samples``).
"""

from govsvc.testing.contract import *  # noqa: F403

pytest_plugins = ["govsvc.testing"]
