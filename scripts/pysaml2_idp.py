"""pysaml2 (PyPI, pinned in the Makefile) acting as a generic SAML 2.0 IdP against a real
idgate: an independent SAML library with its DEFAULT attribute map (urn:oid names, NameFormat
uri) and a persistent NameID, the shape idgate refused as no_email before issue 11.

    pysaml2_idp.py metadata OUT.xml        write the IdP's metadata (loaded by `idgate org saml`)
    pysaml2_idp.py signin BASE SLUG ...    one SP-initiated sign-in through the real endpoints

`signin` reads idgate's SP metadata, follows /saml/SLUG/login to the IdP's redirect binding,
parses idgate's AuthnRequest with pysaml2, answers it with a response pysaml2 signs
(assertion, RSA-SHA256) and posts it to the ACS, then checks /auth/verify's headers.
Driven by scripts/pysaml2-idp.sh; the key pair is tests/fixtures/saml-test-key/idp-*.
"""

import base64
import os
import shutil
import sys
import tempfile
import urllib.parse
import warnings

# pysaml2 7.5.5 imports CFB from its old place in cryptography: not ours to fix, keep it quiet.
warnings.filterwarnings("ignore", message="CFB has been moved")

import requests  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import entity_descriptor  # noqa: E402
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = os.path.join(ROOT, "tests", "fixtures", "saml-test-key")
IDP_ENTITY = "https://idp.pysaml2.example/idp.xml"
IDP_SSO = "https://idp.pysaml2.example/sso/redirect"


def config(sp_metadata=None):
    c = {
        "entityid": IDP_ENTITY,
        "xmlsec_binary": shutil.which("xmlsec1") or "/usr/bin/xmlsec1",
        "key_file": os.path.join(KEYS, "idp-key.pem"),
        "cert_file": os.path.join(KEYS, "idp-cert.pem"),
        "service": {
            "idp": {
                "name": "pysaml2 test IdP",
                "endpoints": {
                    "single_sign_on_service": [(IDP_SSO, BINDING_HTTP_REDIRECT)],
                },
                # The default attribute map: friendly names become urn:oid names.
                "policy": {
                    "default": {
                        "lifetime": {"minutes": 15},
                        "attribute_restrictions": None,
                        "name_form": NAME_FORMAT_URI,
                    }
                },
                "sign_assertion": True,
                "sign_response": False,
                "want_authn_requests_signed": False,
            }
        },
        "metadata": {"local": [sp_metadata]} if sp_metadata else {},
    }
    conf = IdPConfig()
    conf.load(c)
    return conf


def write_metadata(out):
    xml = str(entity_descriptor(config()))
    with open(out, "w") as f:
        f.write(xml)


def fail(msg):
    print(f"pysaml2-idp: FAIL: {msg}")
    sys.exit(1)


def signin(base, slug, identity, expect_email, expect_name):
    """One sign-in of `identity` (friendly names); the headers /auth/verify must show."""
    http = requests.Session()
    md = http.get(f"{base}/saml/{slug}/metadata", timeout=10)
    if md.status_code != 200:
        fail(f"SP metadata: {md.status_code}")
    work = tempfile.mkdtemp()
    sp_md = os.path.join(work, "sp.xml")
    with open(sp_md, "wb") as f:
        f.write(md.content)
    idp = Server(config=config(sp_md))

    start = http.get(f"{base}/saml/{slug}/login?return_to=/app", allow_redirects=False, timeout=10)
    location = start.headers.get("location", "")
    if start.status_code != 302 or not location.startswith(IDP_SSO + "?"):
        fail(f"/login did not redirect to the IdP: {start.status_code} {location}")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    req = idp.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
    authn = req.message
    sp_entity = authn.issuer.text
    _, acs_url = idp.pick_binding(
        "assertion_consumer_service", bindings=[BINDING_HTTP_POST], entity_id=sp_entity, request=authn
    )
    name_id = NameID(
        format=NAMEID_FORMAT_PERSISTENT,
        text="p-" + identity["uid"][0],
        name_qualifier=IDP_ENTITY,
        sp_name_qualifier=sp_entity,
    )
    response = idp.create_authn_response(
        identity,
        in_response_to=authn.id,
        destination=acs_url,
        sp_entity_id=sp_entity,
        name_id=name_id,
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"},
        sign_assertion=True,
        sign_response=False,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    xml = str(response)
    # What the regression is about: pysaml2's default names, not Entra's claims.
    for needle in ("urn:oid:0.9.2342.19200300.100.1.3", NAMEID_FORMAT_PERSISTENT):
        if needle not in xml:
            fail(f"pysaml2's response lacks {needle}: {xml[:2000]}")
    if "schemas.xmlsoap.org" in xml:
        fail("pysaml2's response carries Entra's claim names")
    # The HTTP-POST binding: the response, base64, with the RelayState.
    form = {
        "SAMLResponse": base64.b64encode(xml.encode()).decode(),
        "RelayState": query.get("RelayState", ""),
    }
    # Post to this server's ACS (idgate's public_url may name another host).
    acs = f"{base}/saml/{slug}/acs"
    r = http.post(acs, data=form, allow_redirects=False, timeout=10)
    if r.status_code != 303:
        confirmation = xml[xml.find("SubjectConfirmationData") - 1 :][:400]
        fail(f"ACS answered {r.status_code} for {identity} ({acs_url}; {confirmation})")
    cookie = r.cookies.get("idgate_session")
    if not cookie:
        fail("no session cookie")
    v = requests.get(f"{base}/auth/verify", cookies={"idgate_session": cookie}, timeout=10)
    got = (v.status_code, v.headers.get("x-idgate-email"), urllib.parse.unquote(v.headers.get("x-idgate-name", "")))
    want = (200, expect_email, expect_name)
    if got != want:
        fail(f"/auth/verify: {got}, wanted {want}")
    print(f"pysaml2-idp: signed in {expect_email} ({expect_name}) with pysaml2's default attribute names")
    shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "metadata":
        write_metadata(sys.argv[2])
        return
    if len(sys.argv) == 5 and sys.argv[1] == "signin":
        base, slug, case = sys.argv[2:5]
        if case == "default":
            identity = {
                "uid": ["alice"],
                "mail": [" Alice@ACME.com "],
                "givenName": ["Alice"],
                "sn": ["Liddell"],
                "displayName": ["Alice Liddell"],
            }
            signin(base, slug, identity, "alice@acme.com", "Alice Liddell")
            return
        if case == "eppn":
            # The org chose eduPersonPrincipalName for the email and cn for the display name.
            identity = {
                "uid": ["bob"],
                "mail": ["bob.private@elsewhere.example"],
                "eduPersonPrincipalName": ["Bob@acme.com"],
                "cn": ["Bob B."],
                "displayName": ["not read"],
            }
            signin(base, slug, identity, "bob@acme.com", "Bob B.")
            return
    sys.exit(f"usage: {sys.argv[0]} metadata OUT | signin BASE SLUG default|eppn")


if __name__ == "__main__":
    main()
