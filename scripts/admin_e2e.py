#!/usr/bin/env python3
"""The admin UI end to end in headless Chromium (selenium + Debian's chromedriver).

Run by scripts/admin-e2e.sh, which starts idgate with a fresh store and an operator admin
(ops@example.com). Each step is a function below, run in order; the first one that fails
stops the run with its name, the reason, the page's URL and text, and a screenshot
(WORK_DIR/failure.png). Every page a person would look at is saved to --screenshots.
"""

import argparse
import base64
import json
import math
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

OPERATOR = ("ops@example.com", "a long operator password")
ORG, ORG_NAME, DOMAIN = "acme", "Acme Corp", "acme.com"
USER = ("bob@acme.com", "correct horse battery staple")
METADATA = "tests/fixtures/entra/entra-common-federationmetadata-2017.xml"
CERTIFICATES = 3  # signing certificates in that fixture
KNOWN_FINGERPRINT = "3C:B3:E2:A1"  # the start of one of them (SHA-256)
FINGERPRINT = re.compile(KNOWN_FINGERPRINT.replace(":", ":?") + r"(:?[0-9A-F]{2})+", re.I)
WIDTH, HEIGHT = 1280, 900
# A customer-app OIDC connection (GUIDs: no network needed to save it).
OIDC_TENANT = "3f1c6a2e-8d4b-4c1a-9e2f-5b7d8c9a0e11"
OIDC_CLIENT = "6b2f1a3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
OIDC_SECRET = "Qx8Q~e2e-secret-value.never-shown"


class Failed(Exception):
    """A step's check did not hold: the message says what was expected and what was seen."""


class Run:
    def __init__(self, args):
        self.args = args
        self.base = args.base_url.rstrip("/")
        self.token = None
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in (
            "--headless=new",
            "--no-sandbox",  # root in CI
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--user-data-dir={os.path.join(args.work_dir, 'chromium')}",
        ):
            options.add_argument(flag)
        # The driver's own path: selenium never looks for (or downloads) another.
        service = Service(
            executable_path=args.chromedriver,
            log_output=os.path.join(args.work_dir, "chromedriver.log"),
        )
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(15)
        # The viewport itself WIDTH x HEIGHT (the window size includes the browser's own bars),
        # so that 100vh on the pages is the height of the screenshots.
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )

    # ---- helpers ----

    def url(self, path):
        return self.base + path

    def status(self):
        """The HTTP status of the page now shown (the last navigation's response)."""
        return self.driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n ? n.responseStatus : null;"
        )

    def open(self, path, expect=200):
        self.driver.get(self.url(path))
        got = self.status()
        if expect is not None and got != expect:
            hint = " (the page does not exist yet?)" if got == 404 else ""
            raise Failed(f"GET {path} answered {got}, expected {expect}{hint}")

    def find(self, css, within=None, timeout=5):
        try:
            return WebDriverWait(self.driver, timeout).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, css))
                if within is None
                else lambda _: within.find_element(By.CSS_SELECTOR, css)
            )
        except TimeoutException:
            raise Failed(
                f"no element {css!r} on {self.path()} (HTTP {self.status()})"
            ) from None

    def path(self):
        cur = self.driver.current_url
        return cur[len(self.base) :] if cur.startswith(self.base) else cur

    def expect_path(self, want, what):
        try:
            WebDriverWait(self.driver, 5).until(
                lambda d: self.path().split("?")[0] == want
            )
        except TimeoutException:
            raise Failed(
                f"{what}: expected to land on {want}, but the browser is on {self.path()} "
                f"(HTTP {self.status()})"
            ) from None

    def fill(self, form, name, value):
        field = self.find(f'[name="{name}"]', within=form)
        field.clear()
        field.send_keys(value)

    def button(self, form, label):
        for b in form.find_elements(By.CSS_SELECTOR, "button, input[type=submit]"):
            if (b.text or b.get_attribute("value") or "").strip() == label:
                return b
        raise Failed(f'no "{label}" button in the form on {self.path()}')

    def submit(self, form, label):
        """Clicks the button and waits until the next page has loaded.

        A mark left on the old page's window tells when a new page replaced it (waiting for
        an old element to go stale is racy in chromedriver: it may answer a different error)."""
        self.driver.execute_script("window.__e2e_old_page = true;")
        self.button(form, label).click()
        try:
            WebDriverWait(self.driver, 10, ignored_exceptions=[WebDriverException]).until(
                lambda d: d.execute_script(
                    "return !window.__e2e_old_page && document.readyState === 'complete';"
                )
            )
        except TimeoutException:
            raise Failed(f'clicking "{label}" on {self.path()} loaded no new page') from None

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def cookie(self, name):
        c = self.driver.get_cookie(name)
        return c["value"] if c else None

    def screenshot(self, name):
        """The whole page (up to 3000 px tall), 1280 px wide, as docs/screenshots/NAME.png."""
        d = self.driver
        # No blinking caret in a focused field: the same page gives the same picture.
        d.execute_script("document.documentElement.style.caretColor = 'transparent';")
        metrics = d.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        height = min(3000, max(HEIGHT, math.ceil(size["height"])))
        shot = d.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
            },
        )
        path = os.path.join(self.args.screenshots, f"{name}.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def idgate(self, *argv, stdin=None):
        cmd = [self.args.idgate, "--config", self.args.config, *argv]
        out = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
        if out.returncode != 0:
            raise Failed(f"`idgate {' '.join(argv)}` failed: {out.stderr.strip()}")
        return out.stdout

    def scim(self, method, path, body=None):
        req = urllib.request.Request(
            self.url("/scim/v2" + path),
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/scim+json",
                "Content-Type": "application/scim+json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")

    def password_signin(self, email, password):
        """The product sign-in page with email AND password in one POST.

        With SSO set up, the page asks for the email only (and sends it to the IdP): the
        password field is added to the same plain HTML form, as a browser user could not do,
        but as any client posting the form can."""
        self.open("/login")
        form = self.find('form[action="/login"]')
        self.fill(form, "email", email)
        self.driver.execute_script(
            """const f = arguments[0];
               if (!f.querySelector('input[name=password]')) {
                 const i = document.createElement('input');
                 i.type = 'password'; i.name = 'password'; i.id = 'password';
                 f.insertBefore(i, f.querySelector('button'));
               }""",
            form,
        )
        self.fill(form, "password", password)
        self.submit(form, form.find_element(By.TAG_NAME, "button").text.strip())

    def domain_row(self, domain):
        section = self.find("#domains")
        for row in section.find_elements(By.CSS_SELECTOR, "tbody tr"):
            if domain in row.text:
                return row
        raise Failed(f"no row for {domain} in the Domains section of {self.path()}")

    # ---- the steps, in order ----

    def step_operator_signs_in(self):
        self.open("/admin/login")
        form = self.find('form[action="/admin/login"]')
        self.screenshot("01-admin-login")
        self.fill(form, "email", OPERATOR[0])
        self.fill(form, "password", OPERATOR[1])
        self.submit(form, "Sign in")
        self.expect_path("/admin/orgs", "operator sign-in")
        if not self.cookie("idgate_admin"):
            raise Failed("signed in, but no idgate_admin cookie")

    def step_create_org(self):
        form = self.find('form[action="/admin/orgs"]')
        self.fill(form, "slug", ORG)
        self.fill(form, "name", ORG_NAME)
        self.fill(form, "domains", DOMAIN)
        self.submit(form, "Create")
        self.expect_path(f"/admin/orgs/{ORG}", "creating the org")
        self.domain_row(DOMAIN)
        self.screenshot("03-org-overview")
        self.open("/admin/orgs")
        if ORG_NAME not in self.text():
            raise Failed(f"{ORG_NAME} is not in the organizations list")
        self.screenshot("02-orgs")

    def step_local_account(self):
        # A local password account of the org's domain (needs the org: made after it).
        self.idgate(
            "user", "set-password", "--org", ORG, USER[0], stdin=USER[1] + "\n"
        )

    def step_upload_metadata(self):
        self.open(f"/admin/orgs/{ORG}/sso")
        form = self.find("form#metadata-form")
        if (form.get_attribute("enctype") or "") != "multipart/form-data":
            raise Failed("form#metadata-form is not multipart/form-data")
        self.find('input[type=file][name="metadata_file"]', within=form).send_keys(
            os.path.abspath(METADATA)
        )
        self.submit(form, "Upload")
        if not (200 <= (self.status() or 0) < 400):
            raise Failed(f"the upload answered HTTP {self.status()}: {self.text()[:300]}")
        table = self.find("table#certificates")
        rows = [r.text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        if len(rows) != CERTIFICATES:
            raise Failed(
                f"expected {CERTIFICATES} certificates in table#certificates, "
                f"found {len(rows)} rows: {rows}"
            )
        if not any(FINGERPRINT.search(r) for r in rows):
            raise Failed(f"no SHA-256 fingerprint starting {KNOWN_FINGERPRINT}: {rows}")
        self.screenshot("04-sso-setup")

    def step_generate_scim_token(self):
        self.open(f"/admin/orgs/{ORG}/scim")
        form = self.find("form#token-form")
        self.fill(form, "name", "Entra provisioning")
        self.submit(form, "Generate token")
        token = self.find("code#new-token").text.strip()
        if len(token) < 20:
            raise Failed(f"code#new-token holds no token: {token!r}")
        self.token = token
        self.screenshot("05-scim-token")

    def step_scim_calls(self):
        status, body = self.scim("GET", "/Users")
        if status != 200:
            raise Failed(f"GET /scim/v2/Users with the new token: HTTP {status} {body}")
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alice@acme.com",
            "name": {"givenName": "Alice", "familyName": "Example"},
            "emails": [{"value": "alice@acme.com", "type": "work", "primary": True}],
            "active": True,
        }
        status, body = self.scim("POST", "/Users", user)
        if status != 201:
            raise Failed(f"POST /scim/v2/Users with the new token: HTTP {status} {body}")

    def step_provisioning_log(self):
        # The log is written in the background: reload until the POST shows (5 s at most).
        deadline = time.monotonic() + 5
        while True:
            self.open(f"/admin/orgs/{ORG}/provisioning")
            table = self.find("table#provisioning")
            rows = [r.text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
            if any("POST" in r and "Users" in r and "201" in r for r in rows):
                break
            if time.monotonic() > deadline:
                raise Failed(
                    "the SCIM POST /Users (201) is not in table#provisioning after 5 s; "
                    f"rows: {rows[:5]}"
                )
            time.sleep(0.3)
        self.screenshot("06-provisioning")

    def step_webhooks_page(self):
        # The operator's Webhooks page: an address inside the network is refused with the
        # reason, on the form, and nothing is added.
        self.open("/admin/webhooks")
        form = self.find("form#webhook-form")
        self.fill(form, "url", "https://10.0.0.1/hooks")
        self.fill(form, "types", "user.*")
        self.submit(form, "Add endpoint")
        status, text = self.status(), self.text()
        if status != 422 or "private, loopback or reserved" not in text:
            raise Failed(
                "adding https://10.0.0.1/hooks: expected 422 with the SSRF refusal, got "
                f"HTTP {status}: {text[:300]!r}"
            )
        table = self.find("table#endpoints")
        if "No webhook endpoints yet" not in table.text:
            raise Failed(f"the refused endpoint was listed anyway: {table.text[:300]!r}")
        self.screenshot("08-webhooks")

    def step_events_page(self):
        # The org's Events page: the SCIM-created user, linked to its provisioning-log entry.
        self.open(f"/admin/orgs/{ORG}/events")
        table = self.find("table#events")
        rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
        row = next((r for r in rows if "alice@acme.com" in r.text), None)
        if row is None:
            raise Failed(f"no event of alice@acme.com in table#events: {[r.text for r in rows][:5]}")
        links = row.find_elements(By.CSS_SELECTOR, f'a[href^="/admin/orgs/{ORG}/provisioning/"]')
        if not links:
            raise Failed(f"alice's user.created does not link to its SCIM request: {row.text!r}")
        self.screenshot("09-events")
        links[0].click()
        self.find("section#caused")
        if "user.created" not in self.find("section#caused").text:
            raise Failed("the provisioning entry does not list the event its request caused")

    def step_password_works_before(self):
        # The control: before SSO-only, bob's password signs him in (so the refusal below is
        # SSO-only's doing). His product session is then dropped.
        self.password_signin(*USER)
        if not self.cookie("idgate_session"):
            raise Failed(
                f"password sign-in of {USER[0]} before SSO-only: no session "
                f"(on {self.path()}, HTTP {self.status()}): {self.text()[:300]}"
            )
        self.driver.delete_cookie("idgate_session")

    def step_mark_sso_only(self):
        self.open(f"/admin/orgs/{ORG}")
        form = self.domain_row(DOMAIN).find_element(
            By.CSS_SELECTOR, 'form:has(input[name="sso_only"])'
        )
        box = self.find('input[type=checkbox][name="sso_only"]', within=form)
        if not box.is_selected():
            box.click()
        self.submit(form, "Save")
        self.open(f"/admin/orgs/{ORG}")
        row = self.domain_row(DOMAIN)
        if not row.find_element(By.CSS_SELECTOR, 'input[name="sso_only"]').is_selected():
            raise Failed(f"after Save, {DOMAIN} is not marked SSO only")

    def step_password_refused(self):
        self.password_signin(*USER)
        status, text = self.status(), self.text()
        if status != 403 or "single sign-on" not in text:
            raise Failed(
                f"password sign-in of {USER[0]} on an SSO-only domain: expected 403 and "
                f'"single sign-on", got HTTP {status} on {self.path()}: {text[:300]!r}'
            )
        if self.cookie("idgate_session"):
            raise Failed("the refused password sign-in still set a session cookie")
        self.screenshot("07-sso-only-refused")

    def step_admin_password_refused(self):
        # Sign the operator out, then bob tries the admin sign-in with his password.
        self.open(f"/admin/orgs/{ORG}")
        self.submit(self.find('form[action="/admin/logout"]'), "Sign out")
        self.expect_path("/admin/login", "operator sign-out")
        form = self.find('form[action="/admin/login"]')
        self.fill(form, "email", USER[0])
        self.fill(form, "password", USER[1])
        self.submit(form, "Sign in")
        status = self.status()
        if self.path().split("?")[0] != "/admin/login" or status not in (401, 403):
            raise Failed(
                f"admin sign-in of {USER[0]} with a password: expected a refusal on "
                f"/admin/login, got HTTP {status} on {self.path()}"
            )
        if self.cookie("idgate_admin"):
            raise Failed("the refused admin sign-in set an idgate_admin cookie")


    def step_oidc_customer_app(self):
        # The steps before ended on a refused admin sign-in: the operator signs in again.
        self.open("/admin/login")
        form = self.find('form[action="/admin/login"]')
        self.fill(form, "email", OPERATOR[0])
        self.fill(form, "password", OPERATOR[1])
        self.submit(form, "Sign in")
        self.expect_path("/admin/orgs", "operator sign-in")
        self.open(f"/admin/orgs/{ORG}/sso")
        form = self.find("form#oidc-form")
        self.fill(form, "tenant", OIDC_TENANT)
        self.fill(form, "client_id", OIDC_CLIENT)
        self.find('input[type=radio][name="credential"][value="secret"]', within=form).click()
        self.fill(form, "client_secret", OIDC_SECRET)
        self.submit(form, "Save")
        if self.status() != 200:
            raise Failed(f"saving the OIDC form answered HTTP {self.status()}: {self.text()[:300]}")
        tenant = self.find("#oidc-tenant").text.strip()
        if tenant != OIDC_TENANT:
            raise Failed(f"#oidc-tenant shows {tenant!r}, expected {OIDC_TENANT}")
        mode = self.find("#oidc-mode").text
        if "customer app" not in mode:
            raise Failed(f"#oidc-mode shows {mode!r}")
        if OIDC_SECRET in self.driver.page_source:
            raise Failed("the client secret is shown on the page after saving")
        # An org that signs in with SAML (its metadata is loaded) is not switched by saving.
        active = self.find("#active-protocol").text
        saml = self.driver.find_elements(By.CSS_SELECTOR, "table#certificates")
        if saml and active != "SAML":
            raise Failed(f"#active-protocol shows {active!r}, expected SAML")
        self.screenshot("admin-oidc")

# (key, what it shows, the steps it needs). A failed step skips only the steps that need it,
# so one run tells every step that fails.
STEPS = [
    ("signin", "operator signs in", Run.step_operator_signs_in, []),
    ("org", "create an org with a domain", Run.step_create_org, ["signin"]),
    ("account", "local password account (CLI)", Run.step_local_account, ["org"]),
    ("metadata", "upload the Entra metadata, see its certificates", Run.step_upload_metadata, ["org"]),
    ("token", "generate a SCIM token", Run.step_generate_scim_token, ["org"]),
    ("scim", "SCIM calls with the token", Run.step_scim_calls, ["token"]),
    ("log", "the SCIM call in the provisioning log", Run.step_provisioning_log, ["scim"]),
    ("webhooks", "the Webhooks page refuses an internal address", Run.step_webhooks_page, ["signin"]),
    ("events", "the org's Events page links to the provisioning log", Run.step_events_page, ["log"]),
    ("control", "password sign-in works before SSO-only", Run.step_password_works_before, ["account"]),
    ("sso-only", "mark the domain SSO-only", Run.step_mark_sso_only, ["org"]),
    ("refused", "password sign-in refused (SSO-only)", Run.step_password_refused, ["account", "sso-only"]),
    ("admin-refused", "admin password sign-in refused", Run.step_admin_password_refused, ["account", "sso-only"]),
    ("oidc", "configure Microsoft Entra OIDC (customer app), see its card", Run.step_oidc_customer_app, ["org"]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--idgate", required=True, help="the idgate binary (for CLI set-up)")
    p.add_argument("--config", required=True, help="the running server's gateway.toml")
    p.add_argument("--work-dir", required=True)
    p.add_argument("--screenshots", default="docs/screenshots")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = p.parse_args()
    os.makedirs(args.screenshots, exist_ok=True)

    started = time.monotonic()
    try:
        run = Run(args)
    except WebDriverException as e:
        print(f"admin-e2e: FAIL: cannot start Chromium through chromedriver: {e.msg}")
        print("admin-e2e: 0 passed, 1 failed")
        return 1
    done, failed, skipped = set(), [], []
    try:
        for n, (key, name, fn, needs) in enumerate(STEPS, 1):
            label = f"{n}/{len(STEPS)} {name}"
            missing = [k for k in needs if k not in done]
            if missing:
                skipped.append(key)
                print(f"admin-e2e: SKIP {label} (needs: {', '.join(missing)})")
                continue
            t = time.monotonic()
            try:
                fn(run)
            except (Failed, WebDriverException) as e:
                reason = str(e)
                if isinstance(e, WebDriverException):
                    # Where in this script the browser failed.
                    frames = traceback.extract_tb(e.__traceback__)
                    here = [f for f in frames if f.filename == __file__][-1]
                    reason = f"{e.msg} (at admin_e2e.py line {here.lineno}: {here.line})"
                failed.append(label)
                print(f"admin-e2e: FAIL {label}: {reason}")
                try:
                    print(f"  page: {run.driver.current_url} (HTTP {run.status()})")
                    print("  text: " + run.text()[:600].replace("\n", " | "))
                    run.driver.save_screenshot(os.path.join(args.work_dir, f"failure-{n}.png"))
                except WebDriverException:
                    pass
                continue
            done.add(key)
            print(f"admin-e2e: ok {label} ({time.monotonic() - t:.1f}s)")
    finally:
        run.driver.quit()
    took = time.monotonic() - started
    if failed:
        print("admin-e2e: failed steps: " + "; ".join(failed))
    else:
        print(f"admin-e2e: screenshots in {args.screenshots}/ ({took:.0f}s in all)")
    tail = f", {len(skipped)} skipped" if skipped else ""
    print(f"admin-e2e: {len(done)} passed, {len(failed)} failed{tail}")
    return 1 if failed or skipped else 0

if __name__ == "__main__":
    sys.exit(main())
