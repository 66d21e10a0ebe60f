"""The govsvc reference host: portal, counter, back office, supervision and REST API.

Built on the SDK's public API only. Identity lives in two modules:

* :mod:`govsvc_host.idp` — a small OpenID Connect provider (统一身份认证) for the demo and
  the tests, with demo users and machine clients as data;
* :mod:`govsvc_host.auth` — the relying party the host logs people in with, and the mapping
  from verified claims to a :class:`govsvc.Principal`.

The claims contract both sides agree on is :mod:`govsvc_host.claims`.
"""
