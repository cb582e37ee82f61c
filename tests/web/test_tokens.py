"""The API tokens page and the audit log's task outcomes against the real server (tier 4).

Tokens: an admin creates one with a role and an expiry, its secret is shown once (with a copy button and a
warning) and works against the API; the list shows its last use; revoking asks for confirmation and the token
stops working. The page is in the sidebar for admins only, and a token cannot revoke itself.
Audit: a template download that fails (a 404 of the tests' image server) and one that is cancelled show
their task's outcome and error code instead of "ok 202", each with a link to its task; the action filter is
a select of the known actions. Everything is named jvptest-* and removed afterwards."""
from __future__ import annotations

import re
from typing import Iterator

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import unique
from tests.web.conftest import PHONE, left_of, login, wait_task

pytestmark = pytest.mark.web


@pytest.fixture
def tokens(web_api) -> Iterator[list[str]]:
    """Names of tokens a test makes; each is revoked through the API afterwards, pass or fail."""
    names: list[str] = []
    yield names
    for name in names:
        resp = web_api.post("revoke-token", {"name": name})
        assert resp.status_code in (200, 404), (name, resp.status_code, resp.text)


def row(pg, name: str):
    return pg.locator(f'[data-testid="token-row"][data-key="{name}"]')


def test_create_shows_the_secret_once_then_list_and_revoke(logged_in_page, web_server, web_api, tokens):
    pg = logged_in_page
    name = unique("wtok-")
    tokens.append(name)
    pg.get_by_test_id("nav-tokens").click()
    expect(pg).to_have_url(re.compile(r".*/tokens/$"))
    expect(pg.get_by_test_id("page-title")).to_contain_text("API tokens")
    pg.get_by_test_id("create-token").click()
    dialog = pg.get_by_test_id("create-token-dialog")
    dialog.get_by_test_id("token-name").fill(name)
    dialog.get_by_test_id("token-role").select_option("operator")
    dialog.get_by_test_id("token-ttl").select_option("7")
    dialog.get_by_test_id("create-token-dialog-submit").click()

    shown = pg.get_by_test_id("token-created-dialog")
    expect(shown.get_by_test_id("token-secret-warning")).to_contain_text("only time it is shown")
    expect(shown.get_by_test_id("token-secret-copy")).to_be_visible()
    secret = shown.get_by_test_id("token-secret").inner_text().strip()
    assert secret.startswith("jvp_")
    # the secret works, with the role chosen, and is nowhere in what the server lists or logs
    resp = requests.post(f"{web_server.url}/api/describe-token", json={},
                         headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert resp.json()["token"]["role"] == "operator" and resp.json()["token"]["expires_at"]
    assert secret not in str(web_api.ok("list-tokens")) and secret not in str(web_api.ok("list-audit-events"))
    shown.get_by_test_id("token-saved").check()
    shown.get_by_test_id("token-created-dialog-cancel").click()
    expect(shown).to_have_count(0)

    r = row(pg, name)
    expect(r.get_by_test_id("token-role-cell")).to_have_text("operator")
    pg.reload()  # the list read after the token was used above: its last use shows
    expect(r.get_by_test_id("token-last-used")).not_to_have_text("never")
    # the browser's own token cannot be revoked from here
    own = web_api.ok("describe-token")["token"]["name"]
    expect(row(pg, own).get_by_test_id("token-revoke-self")).to_be_visible()
    expect(row(pg, own).get_by_test_id("token-revoke")).to_have_count(0)

    r.get_by_test_id("token-revoke").click()
    confirm = pg.get_by_test_id("revoke-token-dialog")
    expect(confirm).to_contain_text(name)
    confirm.get_by_test_id("revoke-token-dialog-confirm").click()
    expect(r).to_have_count(0)
    resp = requests.post(f"{web_server.url}/api/list-nodes", json={},
                         headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert resp.status_code == 401
    assert name not in {t["name"] for t in web_api.ok("list-tokens")["tokens"]}


def test_the_tokens_page_is_in_the_menu_of_admins_only(page, web_server, web_api, tokens):
    name = unique("wview-")
    tokens.append(name)
    secret = web_api.ok("create-token", {"name": name, "role": "viewer"})["secret"]
    login(page, secret)
    expect(page.get_by_test_id("nav-nodes")).to_be_visible()
    expect(page.get_by_test_id("nav-tokens")).to_have_count(0)
    expect(page.get_by_test_id("nav-audit")).to_have_count(0)


@pytest.fixture
def finished_tasks(web_api, download_tasks) -> dict:
    """A template download that failed (404) and one cancelled while running, into a test pool."""
    running = download_tasks["running"]
    web_api.ok("cancel-task", {"id": running["id"]})
    return {"failed": download_tasks["failed"], "cancelled": wait_task(web_api, running["id"], ("cancelled",))}


def test_the_audit_log_shows_each_tasks_outcome_and_links_to_it(logged_in_page, finished_tasks):
    pg = logged_in_page
    failed, cancelled = finished_tasks["failed"], finished_tasks["cancelled"]
    pg.get_by_test_id("nav-audit").click()
    expect(pg.get_by_test_id("page-title")).to_contain_text("Audit log")
    action = pg.get_by_test_id("audit-filter-action")
    assert action.evaluate("el => el.tagName") == "SELECT"
    assert {"register-template", "create-token", "revoke-token"} <= set(
        action.locator("option").all_inner_texts())
    action.select_option("register-template")
    rows = pg.get_by_test_id("audit-row")
    expect(rows.first).to_be_visible()

    def row_of(task: dict):
        return rows.filter(has=pg.locator(f'a[href*="{task["id"]}"]'))

    bad = row_of(failed)
    expect(bad.get_by_test_id("audit-outcome")).to_have_text("failed")
    expect(bad.get_by_test_id("audit-error-code")).to_have_text(failed["error"]["code"])
    expect(bad).not_to_contain_text("ok 202")
    expect(row_of(cancelled).get_by_test_id("audit-outcome")).to_have_text("cancelled")

    bad.get_by_test_id("audit-task-link").click()
    expect(pg).to_have_url(re.compile(rf".*/tasks/\?id={failed['id']}$"))
    expect(pg.get_by_test_id("tasks-only")).to_contain_text(failed["id"])
    expect(pg.get_by_test_id("task-row")).to_have_count(1)
    expect(pg.get_by_test_id("task-row").get_by_test_id("task-kind")).to_have_text("register-template")


def test_on_a_phone_an_audit_row_says_what_happened_in_view(logged_in_page, finished_tasks):
    """At phone size the Action, Target and Outcome columns are off to the side: the time cell carries them."""
    pg = logged_in_page
    pg.set_viewport_size(PHONE)
    failed = finished_tasks["failed"]
    pg.goto("/audit/")
    pg.get_by_test_id("audit-filter-action").select_option("register-template")
    bad = pg.get_by_test_id("audit-row").filter(has=pg.locator(f'a[href*="{failed["id"]}"]'))
    summary = bad.get_by_test_id("audit-summary")
    expect(summary).to_contain_text("register-template")
    expect(summary.get_by_test_id("audit-outcome-inline")).to_have_text("failed")
    left_of(summary.bounding_box(), bad.locator('td[data-col="details"]').bounding_box())
    pg.set_viewport_size({"width": 1440, "height": 900})
    expect(summary).to_be_hidden()
