#!/usr/bin/env python3
"""The admin UI's OIDC Test sign-in in headless Chromium (Debian's chromium + chromedriver,
selenium), against the real OpenID Provider of scripts/oidc-e2e.sh: an operator signs in to the
admin UI, opens contoso's SSO setup, presses "Test Microsoft sign-in", signs in as Dan at the
provider's page, and reads the report on the sign-in log entry: every check passed, the claims,
the user it resolves to. Saves docs/screenshots/admin-oidc-test.png. Run by scripts/oidc-e2e.sh
after the HTTP scenarios (which set contoso up)."""

import argparse
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--idgate", required=True)
    p.add_argument("--operator", required=True, help="email:password")
    p.add_argument("--login", required=True, help="the provider account to sign in as")
    p.add_argument("--work-dir", required=True)
    p.add_argument("--screenshot", default="docs/screenshots/admin-oidc-test.png")
    a = p.parse_args()
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--no-first-run", "--disable-extensions", "--window-size=1280,1000",
                 f"--user-data-dir={os.path.join(a.work_dir, 'chromium-oidc')}"):
        options.add_argument(flag)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"),
                      log_output=os.path.join(a.work_dir, "chromedriver-oidc.log"))
    d = webdriver.Chrome(options=options, service=service)
    d.set_page_load_timeout(15)
    wait = WebDriverWait(d, 15)
    base = a.idgate.rstrip("/")
    email, password = a.operator.split(":", 1)
    try:
        d.get(base + "/admin/login")
        d.find_element(By.NAME, "email").send_keys(email)
        d.find_element(By.NAME, "password").send_keys(password)
        d.find_element(By.CSS_SELECTOR, "form button[type=submit], form button").click()
        wait.until(lambda drv: "/admin/login" not in drv.current_url)
        d.get(base + "/admin/orgs/contoso/sso")
        button = wait.until(EC.presence_of_element_located((By.ID, "oidc-test")))
        assert button.is_enabled(), "the Test sign-in button is disabled"
        d.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        wait.until(lambda drv: "/sso" not in drv.current_url)
        # The provider's own sign-in page (another origin), then back through idgate's callback.
        login = wait.until(EC.presence_of_element_located((By.NAME, "login")))
        assert not d.current_url.startswith(base), d.current_url
        login.send_keys(a.login)
        login.submit()
        wait.until(lambda drv: drv.current_url.startswith(base + "/admin/orgs/contoso/signins/"))
        checks = wait.until(EC.presence_of_element_located((By.ID, "oidc-checks")))
        rows = checks.find_elements(By.CSS_SELECTOR, "tbody tr")
        text = checks.text
        assert len(rows) >= 8, f"expected every ID-token check listed, got {len(rows)}: {text}"
        for name in ("signature", "iss", "aud", "exp", "nonce", "oid"):
            assert name in text, f"check {name} missing: {text}"
        resolution = d.find_element(By.ID, "oidc-resolution").text
        assert a.login.lower() in resolution.lower(), resolution
        body = d.find_element(By.TAG_NAME, "body").text
        assert "dan@contoso.com" in body, body[:500]
        os.makedirs(os.path.dirname(a.screenshot), exist_ok=True)
        d.save_screenshot(a.screenshot)
        # A test sign-in issues no product session.
        assert not any(c["name"] == "idgate_session" for c in d.get_cookies()), d.get_cookies()
        print(f"PASS Chromium: the admin UI's Test sign-in at the provider, {len(rows)} checks shown, "
              f"resolved to {a.login}; screenshot {a.screenshot}")
        return 0
    except Exception as e:  # noqa: BLE001 — print what the browser saw
        with open(os.path.join(a.work_dir, "oidc-chromium-failure.html"), "w") as f:
            f.write(d.page_source)
        print(f"FAIL Chromium: {e!r}\n  at {d.current_url}\n  page: {d.find_element(By.TAG_NAME, 'body').text[:6000]}")
        d.save_screenshot(os.path.join(a.work_dir, "oidc-chromium-failure.png"))
        return 1
    finally:
        d.quit()


if __name__ == "__main__":
    sys.exit(main())
