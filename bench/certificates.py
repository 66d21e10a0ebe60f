"""E-certificate throughput on the platform: issue with approved results, verify, against raw
signature checks.

Issues N food business licences (食品经营许可证) **through the Platform**: N applications
are approved by the bureau's and the health commission's in-process legacy systems, and one
``departments.fetch_results()`` pass records each result — the certificate built (face from
the printed result, identifier, a random status list index), signed and stored in the
transaction that moves the case to result ready. Issue/s is that pass's certificates per
second. Every certificate is then verified through the SDK, ``session.certificates.verify``
(policy, format, signature, issuer key and its state, validity, both status lists from the
platform's store), and in the same run the same JWS bytes with the raw libraries —
``cryptography``'s Ed25519 and ``tongsuopy``'s SM2 — doing only what any verifier must.
After the Ed25519 batch the bureau's key is rotated to SM2 and a second batch is issued.
Sides run interleaved in chunks, ABBA order, after an untimed warm-up.

    python bench/certificates.py                       # 300 Ed25519 + 100 SM2 certificates
    python bench/certificates.py --certificates 1000 --sm2 300 --profile

The last line is ``ratio=<sdk verify/s ÷ raw verify/s>`` for Ed25519 (target ≥ 0.5); the
line before it gives the same ratio for SM2 (target ≥ 0.8).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import importlib.resources
import itertools
import os
import platform as host
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cryptography
import sqlalchemy as sa
import tongsuopy
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto.asymciphers import ec as ts_ec

import govsvc
from govsvc.ecert import EDDSA, SM2SM3, KeyRing, Signer
from govsvc.ecert._jose import b64url_decode
from govsvc.store.tables import certificates_t
from govsvc.testing import applicant_of, clerk_for

SAMR = "11230100013114525L"  # 哈尔滨市市场监督管理局 (issues the licence)
HEALTH = "11230100MB1935270B"  # 哈尔滨市卫生健康委员会 (co-reviews)
FOOD_ITEM = "11230100013114525L3000176010001"  # 食品经营许可（新办）
START = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


class Legacy:
    """An in-process legacy system: opens tasks, approves them, issues licences."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.numbers = itertools.count(1)
        self.tasks: dict[str, str] = {}

    def open_review(self, request: govsvc.ReviewRequest) -> str:
        return self.tasks.setdefault(request.task_id, f"L{len(self.tasks) + 1:07d}")

    def poll_review(self, ticket: govsvc.ReviewTicket) -> govsvc.ReviewOutcome:
        return govsvc.ReviewOutcome(approved=True, reason="符合条件", decided_by="科员")

    def issue_result(self, ticket: govsvc.ReviewTicket) -> govsvc.IssuedResult:
        number = f"JY22301{ticket.legacy_id[1:]}{next(self.numbers):03d}"
        return govsvc.IssuedResult(
            name="食品经营许可证",
            number=number,
            data={
                "经营者名称": "张伟",
                "统一社会信用代码（身份证号码）": "230103198503120316",
                "法定代表人（负责人）": "张伟",
                "住所": "黑龙江省哈尔滨市南岗区学府路52号",
                "经营场所": "黑龙江省哈尔滨市南岗区红军街15号",
                "主体业态": "餐饮服务经营者（小型餐馆）",
                "经营项目": "热食类食品制售；冷食类食品制售",
                "日常监督管理机构": "哈尔滨市南岗区市场监督管理局",
            },
        )


class Plugin:
    def __init__(self, legacies: dict[str, Legacy]) -> None:
        self.legacies = legacies

    @govsvc.hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return [
            govsvc.Department(code=code, name=code, division="230100", adapter=legacy)
            for code, legacy in self.legacies.items()
        ]


class Clock:
    def __init__(self) -> None:
        self.moment = START

    def __call__(self) -> dt.datetime:
        return self.moment


def open_platform(folder: Path, clock: Clock) -> tuple[govsvc.Platform, KeyRing]:
    ring = KeyRing(clock=clock)
    ring.generate(SAMR, EDDSA, key_id="samr-ed25519", activated_at=START - dt.timedelta(days=1))
    legacies = {SAMR: Legacy(SAMR), HEALTH: Legacy(HEALTH)}
    p = govsvc.Platform.open(
        f"sqlite:///{folder / 'bench.db'}",
        clock=clock,
        load_entry_points=False,
        plugins=[Plugin(legacies)],
        keys=ring,
        ecert_base_url="https://zwfw.harbin.gov.cn/ecert",
    )
    text = (importlib.resources.files("govsvc") / "data/items/harbin.json").read_text("utf-8")
    p.system().catalogue.import_items(govsvc.import_json(text, source="harbin.json"))
    return p, ring


def approve(p: govsvc.Platform, clock: Clock, count: int) -> None:
    """``count`` food licence applications, accepted, delivered and approved (not yet issued)."""
    version = p.public().catalogue.version(FOOD_ITEM)
    materials = [
        govsvc.ProvidedMaterial(code=m.code, filename=f"x.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]
    zhang = govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟")
    applicant, clerk = p.session(applicant_of(zhang)), p.session(clerk_for(SAMR, HEALTH))
    for _ in range(count):
        clerk.cases.accept(applicant.cases.apply(FOOD_ITEM, zhang, materials=materials))
    system = p.system().departments
    while system.deliver(limit=1000).delivered:
        pass
    clock.moment += dt.timedelta(minutes=1)
    while system.poll(limit=1000).decided:
        clock.moment += dt.timedelta(minutes=1)


def issue(p: govsvc.Platform, key_id: str) -> tuple[list[str], float]:
    """One result pass over the approved cases: the credentials signed with ``key_id``, and
    the seconds the pass took (results recorded, certificates built, signed and stored)."""
    began = time.perf_counter()
    while p.system().departments.fetch_results(limit=1000).issued:
        pass
    spent = time.perf_counter() - began
    pending = p.system().certificates.pending()
    if pending:
        raise AssertionError(f"certificates not issued: {pending[0].last_error}")
    with p.engine.connect() as conn:
        found = conn.execute(
            sa.select(certificates_t.c.credential).where(certificates_t.c.key_id == key_id)
        ).scalars()
        return list(found), spent


def raw_ed25519(signer: Signer) -> Callable[[str], None]:
    public = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(signer.public_jwk()["x"]))

    def check(jws: str) -> None:
        signing_input, _, signature = jws.rpartition(".")
        public.verify(b64url_decode(signature), signing_input.encode("ascii"))

    return check


def raw_sm2(signer: Signer) -> Callable[[str], None]:
    jwk = signer.public_jwk()
    public = ts_ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ts_ec.SM2(),
    ).public_key()
    algorithm = ts_ec.ECDSA(ts_hashes.SM3())

    def check(jws: str) -> None:
        signing_input, _, signature = jws.rpartition(".")
        raw = b64url_decode(signature)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(der, signing_input.encode("ascii"), algorithm)

    return check


def sdk_verifier(p: govsvc.Platform) -> Callable[[str], None]:
    verify = p.public().certificates.verify

    def check(jws: str) -> None:
        result = verify(jws)
        if not result.valid:
            raise AssertionError(f"a benchmark certificate did not verify: {result.summary}")

    return check


def interleaved(
    documents: Sequence[str],
    sides: dict[str, Callable[[str], None]],
    chunk: int,
    rounds: int = 1,
) -> dict[str, float]:
    """Seconds per side over all documents, chunks alternating in ABBA order.

    Small chunks matter on this kind of machine: its CPU speed flips between two levels
    (~1.7x apart) every few hundred milliseconds, and both sides must see both speeds.
    """
    spent = dict.fromkeys(sides, 0.0)
    names = list(sides)
    starts = [s for _ in range(rounds) for s in range(0, len(documents), chunk)]
    for n, start in enumerate(starts):
        part = documents[start : start + chunk]
        for name in names if n % 2 == 0 else reversed(names):
            check = sides[name]
            began = time.perf_counter()
            for jws in part:
                check(jws)
            spent[name] += time.perf_counter() - began
    return spent


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    stats = pstats.Stats(profiler)
    print(f"\nprofile of sdk verify: top {top} by cumulative time")
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=300, help="Ed25519 certificates")
    parser.add_argument("--sm2", type=int, default=100, help="SM2 certificates")
    parser.add_argument("--warmup", type=int, default=50, help="untimed verifications per side")
    parser.add_argument("--chunk", type=int, default=25, help="certificates per interleaved chunk")
    parser.add_argument(
        "--rounds", type=int, default=5, help="times every certificate is verified on each side"
    )
    parser.add_argument("--profile", action="store_true", help="profile sdk verify afterwards")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    print(
        f"{os.cpu_count()} CPU, {host.python_implementation()} {host.python_version()}, "
        f"cryptography {cryptography.__version__}, tongsuopy {tongsuopy.__version__}, SQLite"
    )
    clock = Clock()
    with tempfile.TemporaryDirectory() as folder:
        p, ring = open_platform(Path(folder), clock)
        try:
            sdk = sdk_verifier(p)
            ed_signer = ring.signer_for(SAMR)
            approve(p, clock, args.certificates)
            ed_docs, ed_issue_s = issue(p, ed_signer.key_id)
            clock.moment += dt.timedelta(minutes=1)
            ed_sides = {"sdk": sdk, "raw": raw_ed25519(ed_signer)}
            interleaved(ed_docs[: args.warmup], ed_sides, args.chunk)  # warm-up, untimed
            ed_t = interleaved(ed_docs, ed_sides, args.chunk, args.rounds)

            # The bureau rotates to SM2 (its Ed25519 key keeps verifying what it signed).
            clock.moment += dt.timedelta(minutes=1)
            ring.generate(SAMR, SM2SM3, key_id="samr-sm2")
            sm2_signer = ring.signer_for(SAMR)
            approve(p, clock, args.sm2)
            sm2_docs, sm2_issue_s = issue(p, sm2_signer.key_id)
            clock.moment += dt.timedelta(minutes=1)
            sm2_sides = {"sdk": sdk, "raw": raw_sm2(sm2_signer)}
            interleaved(sm2_docs[: args.warmup], sm2_sides, args.chunk)
            sm2_t = interleaved(sm2_docs, sm2_sides, args.chunk, args.rounds)
            if not p.public().certificates.verify(ed_docs[0]).valid:
                raise AssertionError("an Ed25519 certificate stopped verifying after the rotation")

            size = sum(len(d) for d in ed_docs) / len(ed_docs)
            print(f"credential: {size:,.0f} characters of compact JWS on average (食品经营许可证)")
            n, m, r = len(ed_docs), len(sm2_docs), args.rounds
            ed_issue, ed_sdk, ed_raw = n / ed_issue_s, n * r / ed_t["sdk"], n * r / ed_t["raw"]
            sm2_issue, sm2_sdk = m / sm2_issue_s, m * r / sm2_t["sdk"]
            sm2_raw = m * r / sm2_t["raw"]
            print(f"\nEd25519 ({n} certificates, each verified {r} times per side)")
            print(f"  issue/s (result recorded + certificate signed, stored): {ed_issue:9,.1f}")
            print(f"  verify/s (session.certificates.verify):                {ed_sdk:9,.1f}")
            print(f"  raw verify/s (cryptography):                           {ed_raw:9,.1f}")
            print(f"\nSM2/SM3 ({m} certificates, each verified {r} times per side)")
            print(f"  issue/s (result recorded + certificate signed, stored): {sm2_issue:9,.1f}")
            print(f"  verify/s (session.certificates.verify):                {sm2_sdk:9,.1f}")
            print(f"  raw verify/s (tongsuopy):                              {sm2_raw:9,.1f}")
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for jws in ed_docs[: min(n, 1000)]:
                    sdk(jws)
                profiler.disable()
                print_profile(profiler, args.top)
        finally:
            p.close()
    print(f"\nsm2_ratio={sm2_sdk / sm2_raw:.3f}  (SM2: sdk verify/s ÷ raw tongsuopy verify/s)")
    print(f"ratio={ed_sdk / ed_raw:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
