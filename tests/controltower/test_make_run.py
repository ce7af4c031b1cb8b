"""`make run` shows the product as users will see it: the real server under the environment the
Makefile gives it answers an out-of-scope or unknown link with the project's own 404 page, not
Django's debug page listing every URL pattern, and its static files are served."""

from __future__ import annotations

import re

import httpx
import pytest

from controltower.accounts.roles import Role
from tests.conftest import PASSWORD, ROOT, start_asgi_server

pytestmark = pytest.mark.django_db(transaction=True)


def make_run_environment() -> dict[str, str]:
    """The variables `make run` exports (`run: export NAME ?= value` lines of the Makefile)."""
    found = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        match = re.match(r"^run(?: \w+)*: export (\w+) \?= (.*)$", line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def test_make_run_serves_with_debug_off_on_plain_http_localhost():
    env = make_run_environment()
    assert env["DEBUG"] == "0"
    assert "127.0.0.1" in env["ALLOWED_HOSTS"].split(",")
    assert env["SECURE_SSL_REDIRECT"] == env["SESSION_COOKIE_SECURE"] == env["CSRF_COOKIE_SECURE"] == "0"


def test_out_of_scope_and_unknown_links_get_the_projects_own_404_page(make_user, plants, tmp_path):
    make_user("scoped", Role.VIEWER, everything=False, plants=[plants["north"]])
    server, base_url = start_asgi_server(tmp_path, **make_run_environment())
    try:
        with httpx.Client(base_url=base_url, timeout=30) as browser:
            login = browser.get("/accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
            signed_in = browser.post(
                "/accounts/login/",
                data={"username": "scoped", "password": PASSWORD, "csrfmiddlewaretoken": token},
            )
            assert signed_in.status_code == 302, signed_in.text[:500]
            for link in ("/traces/987654/", "/no-such-page/"):
                response = browser.get(link)
                assert response.status_code == 404, link
                assert "<title>Not found" in response.text
                assert "outside your plants and suppliers" in response.text
                assert "URLconf" not in response.text and "DEBUG = True" not in response.text
            css = re.search(r'href="(/static/[^"]+\.css)"', browser.get("/").text).group(1)
            assert browser.get(css).status_code == 200, "static files are served with DEBUG off"
    finally:
        server.stop()
