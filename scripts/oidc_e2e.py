#!/usr/bin/env python3
"""Sign in with Microsoft Entra over OpenID Connect, end to end, against a real OpenID Provider.

Run by scripts/oidc-e2e.sh, which starts tests/oidc-provider/server.mjs (oidc-provider shaped
like Entra: tenant GUID paths, Entra's claims, client_secret_post, private_key_jwt with an x5t,
the multi-tenant admin consent) and idgate. Python standard library only; the "browser" is
urllib with a cookie jar that follows no redirect by itself, so each hop is checked.

  oidc_e2e.py config --public-url URL              the provider's config (the test's accounts)
  oidc_e2e.py provider --authority A               the provider alone: authorize, PKCE, token
  oidc_e2e.py idgate --authority A --idgate URL --bin BIN --config TOML --log LOG   the scenarios

Each scenario is a function; each check prints PASS or FAIL with what was expected and seen.
A refusal must be a 403 page with a reference, and idgate's log (LOG) must give the expected
reason for that reference. The run goes on after a failed scenario and exits 1 if anything
failed.
"""

import argparse
import base64
import hashlib
import html
import http.cookiejar
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

# ---- the test's Entra tenants and accounts (the provider's config is written from these) ----

ACME = "6f1c0a53-2d7e-4b8a-9c41-0e5d2f7a8b13"  # Acme's Entra tenant (org acme)
CONTOSO = "b2c4e6f8-1a3b-4c5d-8e7f-9a0b1c2d3e4f"  # contoso.onmicrosoft.com (scenario 3)
FABRIKAM = "d9e8f7a6-b5c4-4d3e-8f2a-1b0c9d8e7f6a"  # consents to the idgate app (scenario 5)
CLIENT_SECRET_APP = ("0c5e9b1e-7d3a-4f6b-a2c8-5e1d9f3b7a40", "acme~app~secret.0123456789abcdef")
OPERATOR = ("ops@example.com", "a long operator password")  # created by oidc-e2e.sh
APP = ("7e0b2a41-5c9d-4e3f-b8a6-2d1c0f9e8b7a", "idgate~multi~tenant~app~secret.0123")
CERT_CLIENT = "4a8d2f6b-9e1c-4b7a-a3d5-8c2e0f6b9d17"  # registered with idgate's certificate


def account(oid, sub, upn, email, name, verified=True, roles=("User",), **extra):
    given, _, family = name.partition(" ")
    return {
        "sub": sub, "oid": oid, "upn": upn, "preferred_username": upn, "email": email,
        "xms_edov": verified, "name": name, "given_name": given, "family_name": family,
        "roles": list(roles), **extra,
    }


ALICE = account("a11ce000-1b2c-4d3e-8f40-5a6b7c8d9e01", "Xq3kZ9vR2mT8pL5wN1yB6cJ4hF7dG0sA_aliceQ",
                "Alice@Acme.com", "Alice@Acme.com", "Alice Example", roles=["Admin"])
BOB = account("b0b00000-2c3d-4e5f-9a61-7b8c9d0e1f02", "pL5wN1yB6cJ4hF7dG0sAXq3kZ9vR2mT8_bobQ",
              "bob@acme.com", "bob@acme.com", "Bob Example")
HAL = account("4a100000-8293-4eb5-90c7-3b4c5d6e7f08", "wN1yB6cJ4hF7dG0sAXq3kZ9vR2mT8pL5_halQ",
              "hal@acme.com", "hal@acme.com", "Hal Example")
# Provisioned with Entra's default SCIM mapping (externalId = mailNickname, userName = upn).
IVY = account("1e700000-93a4-4fc6-81d8-4c5d6e7f8009", "B6cJ4hF7dG0sAXq3kZ9vR2mT8pL5wN1y_ivyQ",
              "ivy@acme.com", "ivy@acme.com", "Ivy Example")
# Ivy deleted in Entra and created again with the same upn: a new oid (login by oid).
IVY_AGAIN = account("1e700000-93a4-4fc6-81d8-4c5d6e7f80ff", "T8pL5wN1yB6cJ4hF7dG0sAXq3kZ9vR2m_ivy2Q",
                    "ivy@acme.com", "ivy@acme.com", "Ivy Again")
# A verified email (xms_edov true) is the only thing matching idgate's user.
KIM = account("c1300000-a4b5-40d7-92e9-5d6e7f80910a", "dG0sAXq3kZ9vR2mT8pL5wN1yB6cJ4hF7_kimQ",
              "kim.x@acmecorp.onmicrosoft.com", "kim@acme.com", "Kim Verified")
# Not assigned to the app in Entra (assignment required): Entra refuses with AADSTS50105.
LEO = account("1e000000-b5c6-41e8-83fa-6e7f8091a20b", "sAXq3kZ9vR2mT8pL5wN1yB6cJ4hF7dG0_leoQ",
              "leo@acme.com", "leo@acme.com", "Leo Unassigned", unassigned=True)
# A B2B guest in Acme's tenant (another tenant's user): idgate has no user for them.
CAROL = account("ca201000-3d4e-4f60-8b72-8c9d0e1f2a03", "hF7dG0sAXq3kZ9vR2mT8pL5wN1yB6cJ4_carolQ",
                "carol_contoso.com#EXT#@acmecorp.onmicrosoft.com", "carol@contoso.com", "Carol Guest",
                idp=f"https://sts.windows.net/{CONTOSO}/", acct=1)
# Email not verified by the tenant (xms_edov false); idgate's user for that email has another
# externalId and another userName: linking by email would be an account takeover.
ERIN = account("e4140000-4e5f-4a71-9c83-9d0e1f2a3b04", "R2mT8pL5wN1yB6cJ4hF7dG0sAXq3kZ9v_erinQ",
               "erin.x@acmecorp.onmicrosoft.com", "erin@acme.com", "Erin Unverified", verified=False)
DAN = account("da400000-5f60-4b82-8d94-0e1f2a3b4c05", "N1yB6cJ4hF7dG0sAXq3kZ9vR2mT8pL5w_danQ",
              "dan@contoso.com", "dan@contoso.com", "Dan Contoso")
FAY = account("fa700000-6071-4c93-9ea5-1f2a3b4c5d06", "cJ4hF7dG0sAXq3kZ9vR2mT8pL5wN1yB6_fayQ",
              "fay@fabrikam.com", "fay@fabrikam.com", "Fay Fabrikam", roles=["Admin"], admin=True)
GIL = account("61100000-7182-4da4-8fb6-2a3b4c5d6e07", "G0sAXq3kZ9vR2mT8pL5wN1yB6cJ4hF7d_gilQ",
              "gil@fabrikam.com", "gil@fabrikam.com", "Gil Fabrikam")


def provider_config(public_url):
    redirect = [public_url.rstrip("/") + "/oidc/callback"]
    return {
        "tenants": [
            {"id": ACME, "domains": ["acmecorp.onmicrosoft.com"],
             "clients": [{"client_id": CLIENT_SECRET_APP[0], "client_secret": CLIENT_SECRET_APP[1],
                          "redirect_uris": redirect}],
             "accounts": [ALICE, BOB, CAROL, ERIN, HAL, IVY, KIM, IVY_AGAIN, LEO]},
            {"id": CONTOSO, "domains": ["contoso.onmicrosoft.com", "contoso.com"],
             "clients": [{"client_id": CLIENT_SECRET_APP[0], "client_secret": CLIENT_SECRET_APP[1],
                          "redirect_uris": redirect}],
             "accounts": [DAN]},
            {"id": FABRIKAM, "domains": ["fabrikam.onmicrosoft.com"], "clients": [],
             "accounts": [FAY, GIL]},
        ],
        "app": {"client_id": APP[0], "client_secret": APP[1], "tenant": FABRIKAM,
                "redirect_uris": redirect},
    }


# ---- checks ----

class Failed(Exception):
    """A check did not hold: the message says what was expected and what was seen."""


RESULTS = []
IDGATE_LOG = None  # idgate's log file, when the scenarios run


def check(name, ok, detail=""):
    print(f"  {'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        raise Failed(f"{name}: {detail}")


def scenario(fn):
    """Runs one scenario; a failure is reported with its step and the run goes on."""
    def run(*args):
        title = fn.__doc__.strip().splitlines()[0]
        print(f"== {fn.__name__}: {title}", flush=True)
        try:
            fn(*args)
            RESULTS.append((fn.__name__, True))
            print(f"PASS {fn.__name__}", flush=True)
        except Failed as e:
            RESULTS.append((fn.__name__, False))
            print(f"FAIL {fn.__name__}: {e}", flush=True)
        except Exception:  # a crash of the driver itself is a failure too, with its traceback
            RESULTS.append((fn.__name__, False))
            traceback.print_exc()
            print(f"FAIL {fn.__name__}: the driver crashed (above)", flush=True)
    return run


# ---- a browser: urllib, a cookie jar, no automatic redirects ----

class Response:
    def __init__(self, status, headers, body, url):
        self.status, self.headers, self.body, self.url = status, headers, body, url
        self.text = body.decode("utf-8", "replace")

    @property
    def location(self):
        loc = self.headers.get("Location")
        return urllib.parse.urljoin(self.url, loc) if loc else None

    def __repr__(self):
        snippet = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", self.text)).strip()[:400]
        out = f"{self.status} {self.url} Location={self.headers.get('Location')} body={snippet!r}"
        ref = reference(self)
        if ref and IDGATE_LOG:  # idgate's reason for a refusal page, from its log
            with open(IDGATE_LOG, encoding="utf-8", errors="replace") as f:
                out += "".join(f"\n       idgate log: {l.strip()}" for l in f if f'reference="{ref}"' in l)
        return out


class _NoRaise(urllib.request.HTTPErrorProcessor):
    def http_response(self, request, response):
        return response

    https_response = http_response


class Browser:
    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRaise())

    def request(self, method, url, form=None, headers=None, json_body=None):
        data = None
        headers = dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with self.opener.open(req, timeout=20) as r:
            return Response(r.status, r.headers, r.read(), url)

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, form, **kw):
        return self.request("POST", url, form=form, **kw)

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def form_fields(text):
    """The named inputs of the first form on a page (enough for the provider's own pages)."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", text):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    return fields


def reference(r):
    m = re.search(r'class="reference">Reference <code>([^<]+)</code>', r.text)
    return m.group(1) if m else None


# ---- the OpenID Provider's side of a sign-in ----

def provider_login(browser, url, login, stop_prefix, trail):
    """From an authorize URL: the login form, `login` posted, redirects up to the client's
    redirect URI (not fetched). Returns that URL."""
    for _ in range(10):
        if url.startswith(stop_prefix):
            return url
        r = browser.get(url)
        trail.append(r)
        if r.status in (302, 303) and r.location:
            url = r.location
            continue
        if r.status == 200 and 'name="login"' in r.text:
            posted = browser.post(r.url, {"login": login})
            trail.append(posted)
            check(f"the provider signs {login} in", posted.status in (302, 303), repr(posted))
            url = posted.location
            continue
        raise Failed(f"unexpected provider answer while signing {login} in: {r!r}")
    raise Failed(f"too many redirects: {[repr(t) for t in trail]}")


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rs256_verify(jwt, jwks):
    """RS256 (RSASSA-PKCS1-v1_5, SHA-256) with integers: the standard library has no RSA."""
    header_b64, payload_b64, sig_b64 = jwt.split(".")
    header = json.loads(b64url_decode(header_b64))
    key = next((k for k in jwks["keys"] if k.get("kid") == header.get("kid")), None)
    if key is None or header.get("alg") != "RS256":
        return False
    n = int.from_bytes(b64url_decode(key["n"]), "big")
    e = int.from_bytes(b64url_decode(key["e"]), "big")
    k = (n.bit_length() + 7) // 8
    em = pow(int.from_bytes(b64url_decode(sig_b64), "big"), e, n).to_bytes(k, "big")
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
    digest = hashlib.sha256(f"{header_b64}.{payload_b64}".encode()).digest()
    expected = b"\x00\x01" + b"\xff" * (k - 3 - len(digest_info) - len(digest)) + b"\x00" + digest_info + digest
    return em == expected


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def provider_only(args):
    """The stand-in Entra alone: authorize with PKCE, client_secret_post, private_key_jwt with
    an openssl certificate, the Entra-shaped ID token, discovery by domain, admin consent."""
    A = args.authority.rstrip("/")
    redirect_uri = args.public_url.rstrip("/") + "/oidc/callback"

    def flow(tenant, client_id, login, auth, base=None, prompt=None):
        base = base or f"{A}/{tenant}"
        b = Browser()
        verifier, challenge = pkce()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        params = {"client_id": client_id, "response_type": "code", "redirect_uri": redirect_uri,
                  "response_mode": "query", "scope": "openid profile email", "state": state,
                  "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
        if prompt:
            params["prompt"] = prompt
        back = provider_login(b, f"{base}/oauth2/v2.0/authorize?" + urllib.parse.urlencode(params),
                              login, redirect_uri, [])
        q = query(back)
        check("the callback has the state, a code, a session_state and no iss (as Entra)",
              q.get("state") == state and q.get("code") and q.get("session_state") and "iss" not in q, back)
        form = {"grant_type": "authorization_code", "code": q["code"], "redirect_uri": redirect_uri,
                "code_verifier": verifier, "client_id": client_id, **auth(f"{base}/oauth2/v2.0/token")}
        r = b.post(f"{base}/oauth2/v2.0/token", form)
        check("the token endpoint answers 200", r.status == 200, repr(r))
        tokens = json.loads(r.body)
        jwks = json.loads(b.get(f"{A}/{tenant}/discovery/v2.0/keys").body)
        check(f"the ID token verifies with {A}/{tenant}/discovery/v2.0/keys",
              rs256_verify(tokens["id_token"], jwks))
        claims = json.loads(b64url_decode(tokens["id_token"].split(".")[1]))
        claims["_kid"] = json.loads(b64url_decode(tokens["id_token"].split(".")[0]))["kid"]
        check("the ID token's iss, aud, nonce", claims["iss"] == f"{A}/{tenant}/v2.0"
              and claims["aud"] == client_id and claims["nonce"] == nonce, claims)
        replay = b.post(f"{base}/oauth2/v2.0/token", {**form, **auth(f"{base}/oauth2/v2.0/token")})
        check("a code is single-use: invalid_grant, AADSTS70008", replay.status == 400
              and json.loads(replay.body).get("error_description", "").startswith("AADSTS70008"), repr(replay))
        return claims

    claims = flow(ACME, CLIENT_SECRET_APP[0], "alice@acme.com",
                  lambda aud: {"client_secret": CLIENT_SECRET_APP[1]})
    want = {k: v for k, v in ALICE.items()}
    want.update(tid=ACME, ver="2.0")
    check("nbf, aio, rh, uti as Entra's; nothing that is not a claim", claims.get("nbf") and claims.get("aio")
          and claims.get("rh") and claims.get("uti") and "admin" not in claims and "unassigned" not in claims, claims)
    check("the Entra-shaped claims (tid, oid, sub, upn, email, xms_edov, roles, ...)",
          all(claims.get(k) == v for k, v in want.items()), {k: (claims.get(k), v) for k, v in want.items() if claims.get(k) != v})
    b = Browser()
    r = b.post(f"{A}/{ACME}/oauth2/v2.0/token", {"grant_type": "authorization_code", "code": "x",
               "client_id": CLIENT_SECRET_APP[0], "client_secret": "wrong", "redirect_uri": redirect_uri,
               "code_verifier": "x" * 43})
    check("a wrong client secret: invalid_client, AADSTS7000215", r.status in (400, 401)
          and json.loads(r.body).get("error_description", "").startswith("AADSTS7000215"), repr(r))
    guest = flow(ACME, CLIENT_SECRET_APP[0], CAROL["upn"], lambda aud: {"client_secret": CLIENT_SECRET_APP[1]})
    check("a guest's token carries idp and acct", guest.get("idp") == CAROL["idp"] and guest.get("acct") == 1, guest)

    # private_key_jwt: a certificate made here with openssl (idgate makes its own in the scenarios).
    with tempfile.TemporaryDirectory() as d:
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=oidc-e2e"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, capture_output=True).stdout
        client_id = "11111111-2222-4333-8444-555555555555"
        r = Browser().request("POST", f"{A}/_admin/clients", json_body={
            "tenant": ACME, "client_id": client_id, "redirect_uris": [redirect_uri],
            "certificate": open(cert).read()})
        check("a certificate client is registered", r.status == 201, repr(r))
        x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()

        def assertion(aud, thumbprint=x5t):
            enc = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
            now = int(time.time())
            signing_input = enc({"alg": "RS256", "typ": "JWT", "x5t": thumbprint, "kid": "some-kid"}) + "." + enc(
                {"iss": client_id, "sub": client_id, "aud": aud, "jti": secrets.token_hex(16), "nbf": now, "exp": now + 300})
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                                 check=True, capture_output=True).stdout
            return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()}

        flow(ACME, client_id, "bob@acme.com", assertion)
        other = base64.urlsafe_b64encode(hashlib.sha1(b"another certificate").digest()).rstrip(b"=").decode()
        r = Browser().post(f"{A}/{ACME}/oauth2/v2.0/token", {"grant_type": "authorization_code", "code": "x",
                           "client_id": client_id, "redirect_uri": redirect_uri, "code_verifier": "x" * 43,
                           **assertion(f"{A}/{ACME}/oauth2/v2.0/token", other)})
        check("an assertion whose x5t is another certificate's: AADSTS700027",
              r.status == 401 and b"AADSTS700027" in r.body, repr(r))

    b = Browser()
    for name in ("contoso.onmicrosoft.com", CONTOSO):
        doc = json.loads(b.get(f"{A}/{name}/v2.0/.well-known/openid-configuration").body)
        check(f"discovery by {name}", doc.get("issuer") == f"{A}/{CONTOSO}/v2.0"
              and doc.get("jwks_uri") == f"{A}/{CONTOSO}/discovery/v2.0/keys"
              and doc.get("authorization_endpoint") == f"{A}/{CONTOSO}/oauth2/v2.0/authorize", doc)
    r = b.get(f"{A}/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    check("an unknown domain: AADSTS90002", r.status == 400 and b"AADSTS90002" in r.body, repr(r))

    state = secrets.token_urlsafe(8)
    consent = f"{A}/organizations/v2.0/adminconsent?" + urllib.parse.urlencode(
        {"client_id": APP[0], "redirect_uri": redirect_uri, "state": state, "scope": "openid profile email"})
    page = b.get(consent)
    check("the admin consent page", page.status == 200 and 'name="login"' in page.text, repr(page))
    fields = form_fields(page.text)
    r = b.post(consent.split("?")[0], {**fields, "login": "fay@fabrikam.com", "consent": "accept"})
    check("admin consent redirects with admin_consent=True&tenant", r.status == 302 and query(r.location) == {
        "admin_consent": "True", "tenant": FABRIKAM, "state": state, "scope": "openid profile email"}, repr(r))
    r = b.post(consent.split("?")[0], {**fields, "login": "fay@fabrikam.com", "consent": "decline"})
    check("declined consent redirects with AADSTS65004", query(r.location).get("error") == "access_denied"
          and query(r.location).get("error_description", "").startswith("AADSTS65004"), repr(r))
    app = flow(FABRIKAM, APP[0], "gil@fabrikam.com", lambda aud: {"client_secret": APP[1]},
               base=f"{A}/organizations", prompt="select_account")
    check("the app at /organizations: iss and tid of the home tenant", app["iss"] == f"{A}/{FABRIKAM}/v2.0"
          and app["tid"] == FABRIKAM, app)
    flow(FABRIKAM, APP[0], "gil@fabrikam.com", lambda aud: {"client_secret": APP[1]}, prompt="select_account")
    flow(ACME, CLIENT_SECRET_APP[0], "bob@acme.com", lambda aud: {"client_secret": CLIENT_SECRET_APP[1]}, prompt="consent")
    old = json.loads(b.get(f"{A}/{ACME}/discovery/v2.0/keys").body)["keys"][0]["kid"]
    r = b.request("POST", f"{A}/_admin/rotate-key", json_body={"tenant": ACME})
    keys = [k["kid"] for k in json.loads(b.get(f"{A}/{ACME}/discovery/v2.0/keys").body)["keys"]]
    check("a key rollover: the new key first, the old one still listed", keys == [json.loads(r.body)["kid"], old], keys)
    claims = flow(ACME, CLIENT_SECRET_APP[0], "alice@acme.com", lambda aud: {"client_secret": CLIENT_SECRET_APP[1]})
    check("after the rollover the new key signs", claims["_kid"] == keys[0], claims["_kid"])
    print("provider: ok", flush=True)


# ---- idgate ----

class Idgate:
    def __init__(self, args):
        self.base = args.idgate.rstrip("/")
        self.authority = args.authority.rstrip("/")
        self.bin, self.config, self.log = args.bin, args.config, args.log

    def cli(self, *argv, stdin=None, ok=True):
        p = subprocess.run([self.bin, "--config", self.config, *argv], input=stdin, capture_output=True, text=True)
        if ok and p.returncode != 0:
            err = " | ".join(l for l in p.stderr.splitlines() if l.strip())
            raise Failed(f"`idgate {' '.join(argv)}` exited {p.returncode}: {err} {p.stdout.strip()}")
        return p

    def scim(self, token, method, path, body=None):
        b = Browser()
        r = b.request(method, self.base + "/scim/v2" + path, json_body=body,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        return r, (json.loads(r.body) if r.body else None)

    def provision(self, token, acct, user_name=None, external_id=None):
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name or acct["upn"], "externalId": external_id or acct["oid"], "active": True,
                "displayName": acct["name"],
                "name": {"givenName": acct["given_name"], "familyName": acct["family_name"]},
                "emails": [{"value": acct["email"], "type": "work", "primary": True}]}
        r, doc = self.scim(token, "POST", "/Users", body)
        check(f"SCIM creates {body['userName']}", r.status == 201, repr(r))
        return doc["id"]

    def set_active(self, token, uid, active):
        r, _ = self.scim(token, "PATCH", f"/Users/{uid}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": "True" if active else "False"}]})
        check(f"SCIM PATCH active={active}", r.status in (200, 204), repr(r))

    def org(self, slug, name, domain):
        self.cli("org", "create", slug, "--name", name, "--domain", domain)
        return self.cli("scim-token", "create", "--org", slug, "--name", "oidc-e2e").stdout.strip()

    def show(self, slug):
        return self.cli("org", "show", slug).stdout

    def tenant_of(self, slug):
        m = re.search(r"^oidc tenant:\s*(\S+)", self.show(slug), re.M)
        return m.group(1) if m else None

    def operator_sign_in(self, browser):
        """The operator admin (created by oidc-e2e.sh) signs in to the admin UI."""
        page = browser.get(self.base + "/admin/login")
        csrf = form_fields(page.text).get("csrf")
        r = browser.post(self.base + "/admin/login", {"email": OPERATOR[0], "password": OPERATOR[1], "csrf": csrf or ""})
        check("the operator signs in to the admin UI", r.status in (302, 303) and "/admin/login" not in (r.location or ""), repr(r))

    def start(self, browser, org, return_to="/somewhere"):
        """GET /oidc/{org}/login: the redirect to the provider, its parameters checked."""
        r = browser.get(f"{self.base}/oidc/{org}/login?" + urllib.parse.urlencode({"return_to": return_to}))
        check(f"/oidc/{org}/login redirects to the provider", r.status in (302, 303) and r.location
              and r.location.startswith(self.authority + "/"), repr(r))
        return r.location

    def sign_in(self, browser, org, login, return_to="/somewhere"):
        """The whole browser sign-in; returns (idgate's answer to the callback, callback URL)."""
        authorize = self.start(browser, org, return_to)
        callback = provider_login(browser, authorize, login, self.base + "/", [])
        check("the provider sends the browser to /oidc/callback", callback.startswith(self.base + "/oidc/callback?"), callback)
        return browser.get(callback), callback

    def verify(self, browser):
        """/auth/verify: its status and the X-Idgate-Email and X-Idgate-Org it answers with."""
        r = browser.get(self.base + "/auth/verify")
        return r.status, r.headers.get("X-Idgate-Email"), r.headers.get("X-Idgate-Org")

    def signed_in(self, browser, org, login, email, return_to="/somewhere"):
        r, _ = self.sign_in(browser, org, login, return_to)
        check(f"{login}: the callback sets idgate_session and 303s to {return_to}",
              r.status == 303 and r.headers.get("Location") in (return_to, self.base + return_to)
              and browser.cookie("idgate_session"), repr(r))
        got = self.verify(browser)
        check(f"/auth/verify: 200, X-Idgate-Email {email}, X-Idgate-Org {org}", got == (200, email, org), got)

    def refused(self, r, what, reasons, detail=None):
        """A 403 page with a reference, which idgate's log gives one of `reasons` for (and
        `detail` in its detail)."""
        ref = reference(r)
        check(f"{what}: a 403 refusal page with a reference", r.status == 403 and ref, repr(r))
        line = self.log_line(f'reference="{ref}"')
        reason = re.search(r'reason="([^"]*)"', line or "")
        check(f"{what}: refused for {' or '.join(reasons)}" + (f" ({detail})" if detail else ""),
              reason and reason.group(1) in reasons and (detail is None or detail in line), line)
        print(f"       (reference {ref}: {reason.group(1)})")

    def log_line(self, needle):
        for _ in range(20):  # the log line may trail the response by a moment
            with open(self.log, encoding="utf-8", errors="replace") as f:
                line = next((l.strip() for l in f if needle in l), None)
            if line:
                return line
            time.sleep(0.05)
        return None


@scenario
def customer_app_client_secret(idg, token, state):
    """Customer's own app registration, client_secret_post: SCIM lifecycle gates the sign-in."""
    redirect_uri = idg.base + "/oidc/callback"
    idg.cli("org", "oidc", "acme", "--tenant", ACME, "--client-id", CLIENT_SECRET_APP[0],
            "--client-secret-stdin", stdin="not-the-secret\n")
    idg.cli("org", "sso", "acme", "oidc")
    uid = idg.provision(token, ALICE, user_name="Alice@Acme.com")
    r, _ = idg.sign_in(Browser(), "acme", "Alice@Acme.com")
    idg.refused(r, "a wrong client secret", {"token_error"}, "AADSTS7000215")
    idg.cli("org", "oidc", "acme", "--tenant", ACME, "--client-id", CLIENT_SECRET_APP[0],
            "--client-secret-stdin", stdin=CLIENT_SECRET_APP[1] + "\n")
    b = Browser()
    authorize = idg.start(b, "acme")
    q = query(authorize)
    check("the authorize URL is the tenant's", authorize.split("?")[0] == f"{idg.authority}/{ACME}/oauth2/v2.0/authorize", authorize)
    check("authorize: client_id, response_type=code, redirect_uri, scope, state, nonce, PKCE S256",
          q.get("client_id") == CLIENT_SECRET_APP[0] and q.get("response_type") == "code"
          and q.get("redirect_uri") == redirect_uri and set(q.get("scope", "").split()) >= {"openid", "profile", "email"}
          and q.get("state") and q.get("nonce") and q.get("code_challenge_method") == "S256"
          and q.get("code_challenge") and q.get("response_mode", "query") == "query", q)
    idg.signed_in(b, "acme", "Alice@Acme.com", "alice@acme.com")
    auth = [t for t in token_requests(idg) if t["tenant"] == ACME][-1]
    check("idgate authenticated at the token endpoint with client_secret_post", auth["auth"] == "client_secret_post", auth)
    idg.set_active(token, uid, False)
    check("deactivated: /auth/verify 401 at once", idg.verify(b)[0] == 401, idg.verify(b))
    r, _ = idg.sign_in(Browser(), "acme", "Alice@Acme.com")
    idg.refused(r, "a deactivated user's sign-in", {"deactivated"})
    idg.set_active(token, uid, True)
    b = Browser()
    idg.signed_in(b, "acme", "Alice@Acme.com", "alice@acme.com", return_to="/reports?q=1")
    r, _ = idg.scim(token, "DELETE", f"/Users/{uid}")
    check("SCIM DELETE", r.status == 204, repr(r))
    check("deleted: /auth/verify 401 at once", idg.verify(b)[0] == 401, idg.verify(b))
    r, _ = idg.sign_in(Browser(), "acme", "Alice@Acme.com")
    idg.refused(r, "a deleted user's sign-in", {"not_provisioned"})


def token_requests(idg):
    return json.loads(Browser().get(idg.authority + "/_admin/token-requests").body)


@scenario
def customer_app_certificate(idg, token, state):
    """Customer's own app registration, private_key_jwt with the certificate idgate made."""
    p = idg.cli("org", "oidc", "acme", "--tenant", ACME, "--client-id", CERT_CLIENT, "--certificate")
    pem = p.stdout.strip()
    check("--certificate prints one PEM certificate alone", pem.startswith("-----BEGIN CERTIFICATE-----")
          and pem.endswith("-----END CERTIFICATE-----") and pem.count("BEGIN") == 1, p.stdout[:200])
    idg.provision(token, BOB)
    app = {"tenant": ACME, "client_id": CERT_CLIENT, "redirect_uris": [idg.base + "/oidc/callback"]}
    r = Browser().request("POST", idg.authority + "/_admin/clients", json_body={**app, "client_secret": "s"})
    check("the app is registered at the provider, without the certificate yet", r.status == 201, repr(r))
    r, _ = idg.sign_in(Browser(), "acme", "bob@acme.com")
    idg.refused(r, "the certificate not uploaded yet", {"token_error"}, "AADSTS700027")
    r = Browser().request("POST", idg.authority + "/_admin/clients", json_body={**app, "certificate": pem})
    check("the certificate is uploaded to the provider", r.status == 201, repr(r))
    idg.signed_in(Browser(), "acme", "bob@acme.com", "bob@acme.com")
    auth = [t for t in token_requests(idg) if t["tenant"] == ACME][-1]
    der = base64.b64decode("".join(pem.splitlines()[1:-1]))
    x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    h, c = auth.get("header", {}), auth.get("claims", {})
    check("the client assertion: RS256, x5t of the certificate, kid", auth["auth"] == "private_key_jwt"
          and h.get("alg") == "RS256" and h.get("x5t") == x5t and h.get("kid"), auth)
    check("the client assertion: iss = sub = client_id, aud = the token endpoint, jti, exp, nbf",
          c.get("iss") == c.get("sub") == CERT_CLIENT and c.get("aud") == f"{idg.authority}/{ACME}/oauth2/v2.0/token"
          and c.get("jti") and c.get("exp") and c.get("nbf"), c)


@scenario
def tenant_forms(idg, _token, state):
    """The tenant given as a domain and as an authority URL resolve to the GUID (CLI and admin
    UI); the admin UI's Test sign-in; a sign-in at the tenant so resolved."""
    scim = idg.org("contoso", "Contoso", "contoso.com")
    for given in ("contoso.onmicrosoft.com", f"{idg.authority}/{CONTOSO}/v2.0"):
        idg.cli("org", "oidc", "contoso", "--tenant", given, "--client-id", CLIENT_SECRET_APP[0],
                "--client-secret-stdin", stdin=CLIENT_SECRET_APP[1] + "\n")
        shown = idg.tenant_of("contoso")
        check(f"--tenant {given}: `org show` prints oidc tenant {CONTOSO}", shown == CONTOSO, idg.show("contoso"))
    p = idg.cli("org", "oidc", "contoso", "--tenant", "nope.onmicrosoft.com", "--client-id", CLIENT_SECRET_APP[0],
                "--client-secret-stdin", stdin=CLIENT_SECRET_APP[1] + "\n", ok=False)
    check("an unknown domain is refused, the tenant kept", p.returncode != 0 and idg.tenant_of("contoso") == CONTOSO,
          f"exit {p.returncode}: {p.stderr.strip()}")
    # The admin UI's form: the tenant as a verified custom domain, the secret shown never again.
    b = Browser()
    idg.operator_sign_in(b)
    page = b.get(idg.base + "/admin/orgs/contoso/sso")
    form = re.search(r'<form method="post" action="(/admin/orgs/contoso/sso/oidc)" id="oidc-form">(.*?)</form>', page.text, re.S)
    check("the SSO page has the customer-app form", page.status == 200 and form, repr(page))
    secret = CLIENT_SECRET_APP[1]
    r = b.post(idg.base + form.group(1), {**form_fields(form.group(2)), "tenant": "contoso.com",
               "client_id": CLIENT_SECRET_APP[0], "credential": "secret", "client_secret": secret, "secret_expires": ""})
    check("the form saves", r.status in (200, 303), repr(r))
    page = b.get(idg.base + "/admin/orgs/contoso/sso")
    check(f"the admin UI with the tenant contoso.com: {CONTOSO}", idg.tenant_of("contoso") == CONTOSO
          and CONTOSO in page.text and secret not in page.text and secret not in r.text, idg.show("contoso"))
    # The admin UI's Test sign-in: the real flow, and no session for the product.
    test = re.search(r'<form method="post" action="(/admin/orgs/contoso/sso/oidc/test)" class="row">(.*?)</form>', page.text, re.S)
    check("the SSO page has the Test sign-in button", test, repr(page))
    r = b.post(idg.base + test.group(1), form_fields(test.group(2)))
    check("Test sign-in goes to contoso's tenant", r.status in (302, 303)
          and (r.location or "").startswith(f"{idg.authority}/{CONTOSO}/oauth2/v2.0/authorize"), repr(r))
    check("Test sign-in asks to select the account", query(r.location).get("prompt") == "select_account", r.location)
    r = b.get(provider_login(b, r.location, DAN["upn"], idg.base + "/", []))
    check("the Test sign-in comes back to the admin UI", r.status in (302, 303)
          and "/admin/" in (r.headers.get("Location") or ""), repr(r))
    report = b.get(r.location)
    check("its report shows the token's tenant", report.status == 200 and CONTOSO in report.text, repr(report))
    check("the Test sign-in made no product session", idg.verify(b)[0] == 401, idg.verify(b))
    idg.provision(scim, DAN)
    idg.signed_in(Browser(), "contoso", DAN["upn"], "dan@contoso.com")


@scenario
def refusals(idg, token, state):
    """Refusals the browser sees as 403 pages: a replayed state, a guest of another tenant,
    an unverified email."""
    idg.provision(token, HAL)
    b = Browser()
    r, callback = idg.sign_in(b, "acme", HAL["upn"])
    check("a sign-in", r.status == 303, repr(r))
    idg.refused(b.get(callback), "the same callback URL a second time (same browser)", {"reused_state"})
    b = Browser()
    callback = provider_login(b, idg.start(b, "acme"), HAL["upn"], idg.base + "/", [])
    idg.refused(Browser().get(callback), "a callback URL opened in another browser first", {"browser_mismatch"})
    r = b.get(callback)
    check("the browser that started it still signs in with it", r.status == 303 and idg.verify(b)[0] == 200, repr(r))
    # The same callback twice at the same moment (a double click): exactly one wins.
    b = Browser()
    callback = provider_login(b, idg.start(b, "acme"), HAL["upn"], idg.base + "/", [])
    answers = [None, None]
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, b.get(callback))) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    check("the same callback twice at once: one 303, one 403", sorted(a.status for a in answers) == [303, 403], answers)
    idg.refused(next(a for a in answers if a.status == 403), "the loser of the race", {"reused_state"})
    idg.refused(Browser().get(callback), "the same callback URL in another browser", {"reused_state", "browser_mismatch"})
    r, _ = idg.sign_in(Browser(), "acme", CAROL["upn"])
    idg.refused(r, "a guest from another tenant whom no user matches", {"email_outside_domains", "not_provisioned", "guest"})
    idg.provision(idg_token := token, ERIN, user_name="erin@acme.com", external_id="0e0e0e0e-0000-4000-8000-000000000e04")
    r, _ = idg.sign_in(Browser(), "acme", ERIN["upn"])
    idg.refused(r, "an unverified email (xms_edov false) matching a user's email only", {"not_provisioned"})
    idg.provision(token, LEO)
    r, _ = idg.sign_in(Browser(), "acme", LEO["upn"])
    idg.refused(r, "Entra refuses a user not assigned to the app", {"idp_error"}, "AADSTS50105")


@scenario
def linking(idg, token, state):
    """Who a token is linked to without the oid as externalId: the upn, a verified email;
    the email-first sign-in page sends an OIDC org's people to /oidc/{org}/login."""
    idg.provision(token, IVY, external_id="ivy")  # Entra's default mapping: mailNickname
    idg.signed_in(Browser(), "acme", IVY["upn"], "ivy@acme.com")
    idg.provision(token, KIM, user_name="kim@acme.com", external_id="kim")
    idg.signed_in(Browser(), "acme", KIM["upn"], "kim@acme.com")
    b = Browser()
    page = b.get(idg.base + "/login?return_to=/reports")
    csrf = form_fields(page.text).get("csrf")
    check("the sign-in page has a CSRF token", page.status == 200 and csrf, repr(page))
    r = b.post(idg.base + "/login", {"email": "Ivy@Acme.com", "csrf": csrf, "return_to": "/reports"})
    check("email-first: an OIDC org's email goes to /oidc/acme/login", r.status == 303
          and r.location == idg.base + "/oidc/acme/login?return_to=%2Freports", repr(r))
    callback = provider_login(b, idg.start(b, "acme", "/reports"), IVY["upn"], idg.base + "/", [])
    r = b.get(callback)
    check("and the sign-in comes back to /reports", r.status == 303 and r.headers.get("Location") in
          ("/reports", idg.base + "/reports"), repr(r))
    check("/auth/verify", idg.verify(b) == (200, "ivy@acme.com", "acme"), idg.verify(b))
    r, _ = idg.sign_in(Browser(), "acme", IVY_AGAIN["oid"])
    idg.refused(r, "the same upn with another oid (the Entra user deleted and created again)",
                {"linked_to_other_account"})


def connect(idg, b, slug, admin, consent="accept", forge_tenant=None):
    """Connect Microsoft Entra for `slug`, as the operator in the admin UI (the browser `b` is
    signed in): the SSO page's Connect button, the admin consent by `admin`, then every
    redirect (the sign-in at the provider included) until a page that is not a redirect."""
    page = b.get(f"{idg.base}/admin/orgs/{slug}/sso")
    form = re.search(r'<form method="post" action="(/admin/orgs/[^"]+/sso/oidc/connect)">(.*?)</form>', page.text, re.S)
    check(f"the SSO page of {slug} has the Connect Microsoft Entra button", page.status == 200 and form, repr(page))
    r = b.post(idg.base + form.group(1), form_fields(form.group(2)))
    check(f"Connect redirects to the admin consent", r.status in (302, 303) and r.location
          and r.location.startswith(idg.authority + "/organizations/v2.0/adminconsent?"), repr(r))
    q = query(r.location)
    check("the consent request: the idgate app's client_id, redirect_uri /oidc/callback, a state",
          q.get("client_id") == APP[0] and q.get("redirect_uri") == idg.base + "/oidc/callback" and q.get("state"), q)
    page = b.get(r.location)
    check("the consent page", page.status == 200, repr(page))
    back = b.post(page.url.split("?")[0], {**form_fields(page.text), "login": admin["upn"], "consent": consent})
    check("consent redirects to idgate", back.status == 302 and back.location.startswith(idg.base + "/"), repr(back))
    url, trail = back.location, []
    if forge_tenant:  # someone edits the redirect: only the verified ID token's tid may count
        url = url.replace(f"tenant={query(url)['tenant']}", f"tenant={forge_tenant}")
    for _ in range(10):  # idgate's callback, then whatever it asks (a sign-in at the provider)
        if not url.startswith(idg.base + "/"):
            url = provider_login(b, url, admin["upn"], idg.base + "/", trail)
        r = b.get(url)
        trail.append(r)
        if r.status not in (302, 303):
            return r
        url = r.location
    raise Failed(f"too many redirects: {trail}")


@scenario
def key_rollover(idg, token, state):
    """Entra rolls its signing key over: idgate fetches the tenant's keys again for the new kid."""
    idg.signed_in(Browser(), "acme", IVY["upn"], "ivy@acme.com")
    r = Browser().request("POST", idg.authority + "/_admin/rotate-key", json_body={"tenant": ACME})
    check("the provider signs with a new key", r.status == 200, repr(r))
    kid = json.loads(r.body)["kid"]
    idg.signed_in(Browser(), "acme", IVY["upn"], "ivy@acme.com")
    line = idg.log_line(f'tenant="{ACME}" keys=2 forced=true')
    check("idgate's log: the keys fetched again, forced by the unknown kid", line is not None,
          f"no 'signing keys fetched tenant=\"{ACME}\" keys=2 forced=true' in the log (new kid {kid})")


def admin_login(idg, acct):
    """/admin/login with the email only (an OIDC org's admins sign in through Entra): returns
    the browser and idgate's answer to the callback."""
    b = Browser()
    page = b.get(idg.base + "/admin/login")
    r = b.post(idg.base + "/admin/login", {"email": acct["email"], "password": "",
                                            "csrf": form_fields(page.text).get("csrf", "")})
    check(f"{acct['email']}: /admin/login (email only) goes to Entra", r.status in (302, 303)
          and (r.location or "").startswith(f"{idg.authority}/{ACME}/oauth2/v2.0/authorize"), repr(r))
    return b, b.get(provider_login(b, r.location, acct["upn"], idg.base + "/", []))


@scenario
def org_admin(idg, token, state):
    """Roles: the token's through the org's mapping for the product; the admin UI only for a
    user whose stored (SCIM) role is admin, through Entra. A user deleted and provisioned
    again signs in again."""
    idg.cli("org", "role-map", "acme", "Admin", "admin")
    uid = idg.provision(token, ALICE, user_name="Alice@Acme.com")  # deleted in the first scenario
    b = Browser()
    idg.signed_in(b, "acme", ALICE["upn"], "alice@acme.com")
    r = b.get(idg.base + "/auth/verify")
    check("the token's roles [Admin] through the role map: X-Idgate-Role admin",
          r.headers.get("X-Idgate-Role") == "admin", dict(r.headers))
    _, r = admin_login(idg, ALICE)
    idg.refused(r, "the admin UI for the token's role alone (SCIM gave none)", {"not_an_admin"})
    r, _ = idg.scim(token, "PATCH", f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "roles", "value": [
            {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}]}]})
    check("SCIM gives Alice the role Admin", r.status in (200, 204), repr(r))
    b, r = admin_login(idg, ALICE)
    check("the org admin lands in acme's admin UI", r.status in (302, 303)
          and r.headers.get("Location") in ("/admin/orgs/acme", idg.base + "/admin/orgs/acme"), repr(r))
    page = b.get(idg.base + "/admin/orgs/acme")
    check("the org admin sees acme's admin page", page.status == 200, repr(page))
    other = b.get(idg.base + "/admin/orgs/contoso")
    check("and not another org's (404)", other.status == 404, repr(other))
    _, r = admin_login(idg, IVY)
    idg.refused(r, "a member at the admin sign-in", {"not_an_admin"})


@scenario
def idgate_app(idg, _token, state):
    """idgate's own multi-tenant app: admin consent binds the org to the consenting tenant."""
    token = idg.org("fabrikam", "Fabrikam", "fabrikam.com")
    idg.cli("org", "oidc", "fabrikam", "--idgate-app")
    idg.cli("org", "sso", "fabrikam", "oidc")
    check("before Connect, `org show` has no tenant", idg.tenant_of("fabrikam") != FABRIKAM, idg.show("fabrikam"))
    b = Browser()
    idg.operator_sign_in(b)
    r = connect(idg, b, "fabrikam", FAY, consent="decline")
    idg.refused(r, "consent declined", {"idp_error"}, "AADSTS65004")
    check("declined: still no tenant", idg.tenant_of("fabrikam") != FABRIKAM, idg.show("fabrikam"))
    r = connect(idg, b, "fabrikam", FAY, forge_tenant=CONTOSO)
    check("Connect (the consent redirect's tenant forged to contoso's) ends on the org's SSO page, with the tenant", r.status == 200
          and r.url == f"{idg.base}/admin/orgs/fabrikam/sso" and FABRIKAM in r.text, repr(r))
    check(f"`org show fabrikam` prints the consenting tenant {FABRIKAM}", idg.tenant_of("fabrikam") == FABRIKAM,
          idg.show("fabrikam"))
    auth = [t for t in token_requests(idg) if t["client_id"] == APP[0]][-1]
    check("the Connect sign-in: at /organizations, the app's client_secret_post",
          auth["tenant"] == "organizations" and auth["auth"] == "client_secret_post", auth)
    idg.provision(token, GIL)
    b2 = Browser()
    authorize = idg.start(b2, "fabrikam")
    check("then the org signs in at its tenant with the idgate app", authorize.split("?")[0] ==
          f"{idg.authority}/{FABRIKAM}/oauth2/v2.0/authorize" and query(authorize).get("client_id") == APP[0], authorize)
    idg.signed_in(b2, "fabrikam", GIL["upn"], GIL["email"])
    idg.org("fabrikam2", "Fabrikam again", "fabrikam2.com")
    idg.cli("org", "oidc", "fabrikam2", "--idgate-app")
    r = connect(idg, b, "fabrikam2", FAY)
    idg.refused(r, "the same tenant for a second org", {"tenant_taken"})
    check("the second org stays unbound", idg.tenant_of("fabrikam2") != FABRIKAM, idg.show("fabrikam2"))


def run_idgate(args):
    global IDGATE_LOG
    IDGATE_LOG = args.log
    idg = Idgate(args)
    token = idg.org("acme", "Acme", "acme.com")
    state = {}
    customer_app_client_secret(idg, token, state)
    customer_app_certificate(idg, token, state)
    tenant_forms(idg, token, state)
    refusals(idg, token, state)
    linking(idg, token, state)
    key_rollover(idg, token, state)
    org_admin(idg, token, state)
    idgate_app(idg, token, state)
    print("== summary")
    for name, ok in RESULTS:
        print(f"{'PASS' if ok else 'FAIL'} {name}")
    return 0 if all(ok for _, ok in RESULTS) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("config")
    c.add_argument("--public-url", required=True)
    p = sub.add_parser("provider")
    p.add_argument("--authority", required=True)
    p.add_argument("--public-url", required=True)
    i = sub.add_parser("idgate")
    i.add_argument("--authority", required=True)
    i.add_argument("--idgate", required=True)
    i.add_argument("--bin", required=True)
    i.add_argument("--config", required=True)
    i.add_argument("--log", required=True, help="idgate's log (the refusals' reasons)")
    args = ap.parse_args()
    if args.cmd == "config":
        print(json.dumps(provider_config(args.public_url), indent=2))
        return 0
    if args.cmd == "provider":
        try:
            provider_only(args)
        except Failed as e:
            print(f"FAIL provider: {e}")
            return 1
        return 0
    return run_idgate(args)


if __name__ == "__main__":
    sys.exit(main())
