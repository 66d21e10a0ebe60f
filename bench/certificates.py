"""E-certificate throughput: issue (build + sign) and verify, against raw signature checks.

Issues N food business licences (食品经营许可证) with the pure layer — ``Certificate.issue``
(face checked against the type, identifier with its check character, a random status list
index) then ``issue_credential`` (W3C VC 2.0, canonical JSON, compact JWS) — and verifies
every one with ``govsvc.ecert.verify`` (format, signature, issuer key and its state,
validity period, revocation and suspension lists). In the same run the same JWS bytes are
verified with the raw libraries: ``cryptography``'s Ed25519 and ``tongsuopy``'s SM2, doing
only what any verifier must (split off the signature, base64url-decode it, check it).
Both sides run interleaved in chunks, ABBA order, after an untimed warm-up.

    python bench/certificates.py                       # 2000 Ed25519 + 500 SM2 certificates
    python bench/certificates.py --certificates 5000 --sm2 1000 --profile

The last line is ``ratio=<sdk verify/s ÷ raw verify/s>`` for Ed25519 (target ≥ 0.5); the
line before it gives the same ratio for SM2 (target ≥ 0.8).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import platform as host
import pstats
import sys
import time
from collections.abc import Callable, Sequence

import cryptography
import tongsuopy
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto.asymciphers import ec as ts_ec

from govsvc.catalogue import Agency
from govsvc.ecert import (
    EDDSA,
    SM2SM3,
    Certificate,
    EcertUrls,
    FetchedStatusList,
    KeyRing,
    StatusList,
    StatusPurpose,
    allocate_index,
    issue_credential,
    load_certificate_types,
    sign_credential,
    status_list_credential,
    verify,
)
from govsvc.ecert._jose import b64url_decode
from govsvc.identity import PartyKey
from govsvc.principals import Actor, PrincipalKind

SAMR = Agency(name="哈尔滨市市场监督管理局", credit_code="11230100013114525L")
HEALTH = Agency(name="哈尔滨市卫生健康委员会", credit_code="11230100MB1935270B")
URLS = EcertUrls("https://zwfw.harbin.gov.cn/ecert")
AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
NOW = AT + dt.timedelta(days=1)
ACTOR = Actor(kind=PrincipalKind.APPROVER, id="a-07", name="李明", agency=SAMR.credit_code)
HOLDER = PartyKey.of("91230103MA1BX4K238")
FACE = {
    "operatorName": "哈尔滨市冰城饺子馆有限公司",
    "creditCode": "91230103MA1BX4K238",
    "legalRepresentative": "张伟",
    "address": "黑龙江省哈尔滨市南岗区红军街15号",
    "premises": "黑龙江省哈尔滨市南岗区红军街15号",
    "businessFormat": "餐饮服务经营者（小型餐馆）",
    "businessItems": "热食类食品制售；冷食类食品制售",
    "supervisor": "哈尔滨市南岗区市场监督管理局",
}
FOOD = load_certificate_types().get("11100000MB0143028R006")


class Issuer:
    """One issuing department: its key ring entry, its status lists, the indexes it used."""

    def __init__(self, ring: KeyRing, agency: Agency, algorithm: str) -> None:
        self.agency = agency
        ring.generate(agency.credit_code, algorithm, activated_at=AT - dt.timedelta(days=1))
        self.signer = ring.signer_for(agency.credit_code)
        self.used: set[int] = set()
        self.lists: dict[str, FetchedStatusList] = {}
        for purpose in StatusPurpose:
            url = URLS.status_list(agency.credit_code, 0, purpose)
            document = status_list_credential(
                StatusList.empty(purpose), url=url, issuer_id=URLS.issuer(agency.credit_code),
                issuer_name=agency.name, valid_from=AT,
            )
            self.lists[url] = FetchedStatusList(sign_credential(document, self.signer, at=AT))

    def issue(self, n: int) -> str:
        index = allocate_index(self.used)
        self.used.add(index)
        serial = f"JY{n:014d}"
        step = Certificate.issue(
            FOOD, serial=serial, issuer=self.agency, number=serial,
            holder_name="哈尔滨市冰城饺子馆有限公司", holder=HOLDER, division="230103", face=FACE,
            at=AT, actor=ACTOR, status_index=index, case_id=f"case-{n}",
        )
        return issue_credential(step.certificate, self.signer, URLS, at=AT)


def raw_ed25519(ring: KeyRing, issuer: Issuer) -> Callable[[str], None]:
    public = ed25519.Ed25519PublicKey.from_public_bytes(
        b64url_decode(issuer.signer.public_jwk()["x"])
    )

    def check(jws: str) -> None:
        signing_input, _, signature = jws.rpartition(".")
        public.verify(b64url_decode(signature), signing_input.encode("ascii"))

    return check


def raw_sm2(ring: KeyRing, issuer: Issuer) -> Callable[[str], None]:
    jwk = issuer.signer.public_jwk()
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


def sdk_verifier(ring: KeyRing, issuer: Issuer) -> Callable[[str], None]:
    lists = issuer.lists

    def status(url: str, *, online: bool) -> FetchedStatusList | None:
        return lists.get(url)

    def check(jws: str) -> None:
        result = verify(jws, keys=ring, status=status, now=NOW)
        if not result.valid:
            raise AssertionError(f"a benchmark certificate did not verify: {result.summary}")

    return check


def timed_issue(issuer: Issuer, start: int, count: int) -> tuple[list[str], float]:
    began = time.perf_counter()
    issued = [issuer.issue(n) for n in range(start, start + count)]
    return issued, time.perf_counter() - began


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
    parser.add_argument("--certificates", type=int, default=2000, help="Ed25519 certificates")
    parser.add_argument("--sm2", type=int, default=500, help="SM2 certificates")
    parser.add_argument("--warmup", type=int, default=100, help="untimed certificates per side")
    parser.add_argument("--chunk", type=int, default=25, help="certificates per interleaved chunk")
    parser.add_argument(
        "--rounds", type=int, default=3, help="times every certificate is verified on each side"
    )
    parser.add_argument("--profile", action="store_true", help="profile sdk verify afterwards")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    print(
        f"{os.cpu_count()} CPU, {host.python_implementation()} {host.python_version()}, "
        f"cryptography {cryptography.__version__}, tongsuopy {tongsuopy.__version__}"
    )
    ring = KeyRing(clock=lambda: AT)
    ed = Issuer(ring, SAMR, EDDSA)
    sm2 = Issuer(ring, HEALTH, SM2SM3)

    # Warm-up: issue and verify a few on every side (imports, caches, CPU frequency).
    for issuer, raw in ((ed, raw_ed25519), (sm2, raw_sm2)):
        warm, _ = timed_issue(issuer, 10_000_000, args.warmup)
        interleaved(warm, {"sdk": sdk_verifier(ring, issuer), "raw": raw(ring, issuer)}, args.chunk)

    ed_docs, ed_issue_s = timed_issue(ed, 0, args.certificates)
    sm2_docs, sm2_issue_s = timed_issue(sm2, 0, args.sm2)
    ed_t = interleaved(
        ed_docs,
        {"sdk": sdk_verifier(ring, ed), "raw": raw_ed25519(ring, ed)},
        args.chunk,
        args.rounds,
    )
    sm2_t = interleaved(
        sm2_docs,
        {"sdk": sdk_verifier(ring, sm2), "raw": raw_sm2(ring, sm2)},
        args.chunk,
        args.rounds,
    )

    size = sum(len(d) for d in ed_docs) / len(ed_docs)
    print(f"credential: {size:,.0f} characters of compact JWS on average ({FOOD.name})")
    n, m, r = len(ed_docs), len(sm2_docs), args.rounds
    ed_issue, ed_sdk, ed_raw = n / ed_issue_s, n * r / ed_t["sdk"], n * r / ed_t["raw"]
    sm2_issue, sm2_sdk, sm2_raw = m / sm2_issue_s, m * r / sm2_t["sdk"], m * r / sm2_t["raw"]
    print(f"\nEd25519 ({n} certificates, each verified {r} times per side)")
    print(f"  issue/s (build + sign):       {ed_issue:9,.1f}")
    print(f"  verify/s (govsvc.ecert):      {ed_sdk:9,.1f}")
    print(f"  raw verify/s (cryptography):  {ed_raw:9,.1f}")
    print(f"\nSM2/SM3 ({m} certificates, each verified {r} times per side)")
    print(f"  issue/s (build + sign):       {sm2_issue:9,.1f}")
    print(f"  verify/s (govsvc.ecert):      {sm2_sdk:9,.1f}")
    print(f"  raw verify/s (tongsuopy):     {sm2_raw:9,.1f}")
    if args.profile:
        profiler = cProfile.Profile()
        check = sdk_verifier(ring, ed)
        profiler.enable()
        for jws in ed_docs[: min(n, 1000)]:
            check(jws)
        profiler.disable()
        print_profile(profiler, args.top)
    print(f"\nsm2_ratio={sm2_sdk / sm2_raw:.3f}  (SM2: sdk verify/s ÷ raw tongsuopy verify/s)")
    print(f"ratio={ed_sdk / ed_raw:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
