"""The hooks: what this distribution plugs into govsvc (entry point ``example``)."""

from __future__ import annotations

from govsvc import Department, hookimpl

from govsvc_example.adapter import ExampleAdapter
from govsvc_example.legacy import CivilAffairsRegister

CODE = "11230199MB0000019A"  # 示例县民政局's unified social credit code (统一社会信用代码)


@hookimpl
def govsvc_departments() -> list[Department]:
    """示例县民政局, with a fresh register every time the hook is called."""
    return [
        Department(
            code=CODE,
            name="示例县民政局",
            division="230199",
            adapter=ExampleAdapter(CivilAffairsRegister()),
            authoritative_for=("marital_status",),
            timeout=2.0,
        )
    ]
