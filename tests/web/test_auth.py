"""Accounts: log in, register, CSRF, safe redirects, bearer tokens, rate limits, admin checks."""

from __future__ import annotations

import pytest

from app.domain import users
from tests.helpers.apps import make_app
from tests.helpers.builders import PASSWORD, make_user


@pytest.fixture
def buyer(ctx):
    return make_user()


def test_login_page_has_the_named_fields(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert 'value="Log in"' in html


def test_good_login_goes_to_the_buy_page(client, auth, buyer):
    response = auth.login()
    assert response.status_code == 302 and response.location == "/credits/purchase"
    assert client.get("/credits/purchase").status_code == 200


def test_bad_password_is_refused(client, auth, buyer):
    response = auth.login(password="wrong-password")
    assert response.status_code == 401
    assert "Email or password is incorrect." in response.get_data(as_text=True)
    assert client.get("/credits/purchase").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "%2F%2Fevil",
        "///evil.example",
        "///evil.example/credits",
        "////evil.example",
        "/\\/evil.example",
        "%2F%2F%2Fevil.example",
        "/%09/evil.example",
        "/%0a/evil.example",
    ],
)
def test_unsafe_next_is_ignored(auth, buyer, target):
    response = auth.login(next_url=target)
    assert response.location == "/credits/purchase"


def test_local_next_is_followed(auth, buyer):
    assert (
        auth.login(next_url="/api/v1/billing/credits/balance").location
        == "/api/v1/billing/credits/balance"
    )


def test_login_without_csrf_is_400(client, buyer):
    response = client.post("/login", data={"email": "buyer@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)


def test_cookie_api_post_without_csrf_is_400_json(client, auth, buyer):
    auth.login()
    response = client.post("/logout")
    assert response.status_code == 400
    token = auth.csrf()
    assert client.post("/logout", headers={"X-CSRFToken": token}).status_code == 302


def test_logout_ends_the_session(client, auth, buyer):
    auth.login()
    client.post("/logout", data={"csrf_token": auth.csrf()})
    assert client.get("/api/v1/billing/credits/balance").status_code == 401


def test_register_creates_and_logs_in(client, app):
    token = client.get("/register")
    from tests.helpers.logins import csrf_from

    data = {"email": "new@example.com", "password": "long-enough", "confirm": "long-enough"}
    response = client.post(
        "/register", data={**data, "csrf_token": csrf_from(token.get_data(as_text=True))}
    )
    assert response.status_code == 302
    assert client.get("/api/v1/billing/credits/balance").json == {"balance": 0}
    again = client.post(
        "/register",
        data={
            **data,
            "csrf_token": csrf_from(
                client.get("/login", follow_redirects=True).get_data(as_text=True)
            ),
        },
    )
    assert again.status_code in (302, 422)


def test_register_rejects_a_taken_email(client, buyer):
    from tests.helpers.logins import csrf_from

    token = csrf_from(client.get("/register").get_data(as_text=True))
    data = {
        "email": "buyer@example.com",
        "password": "long-enough",
        "confirm": "long-enough",
        "csrf_token": token,
    }
    response = client.post("/register", data=data)
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_bearer_token_authenticates_api_calls_without_csrf(app, client, buyer):
    with app.app_context():
        token = users.issue_token(users.get_user("buyer@example.com"))
    response = client.get(
        "/api/v1/billing/credits/balance", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.json == {"balance": 0}


@pytest.mark.parametrize("header", ["Bearer nope", "Bearer crd_wrong", "Bearer "])
def test_bad_bearer_token_is_401_json(client, buyer, header):
    response = client.get("/api/v1/billing/credits/balance", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"


def test_revoked_token_stops_working(app, client, buyer):
    with app.app_context():
        user = users.get_user("buyer@example.com")
        token = users.issue_token(user)
        users.revoke_token(user.tokens[0].id, actor="test")
    response = client.get(
        "/api/v1/billing/credits/balance", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


def test_bearer_header_never_falls_back_to_the_cookie(client, auth, buyer):
    auth.login()
    response = client.get(
        "/api/v1/billing/credits/balance", headers={"Authorization": "Bearer crd_wrong"}
    )
    assert response.status_code == 401


def test_login_is_rate_limited(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'rl.sqlite3'}", tmp_path, LOGIN_RATE_LIMIT="3 per hour")
    with app.app_context():
        make_user()
    client = app.test_client()
    from tests.helpers.logins import Auth

    auth = Auth(client)
    statuses = [auth.login(password="wrong-password").status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    page = auth.login()
    assert page.status_code == 429
    assert "Slow down" in page.get_data(as_text=True)
    with app.app_context():
        from app.extensions import db

        db.engine.dispose()


def test_logged_out_browser_is_sent_to_log_in_and_back(client, auth, buyer):
    response = client.get("/credits/purchase")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=/credits/purchase")
    back = auth.login(next_url="/credits/purchase")
    assert back.location == "/credits/purchase"


def test_legacy_buy_path_redirects_logged_in_users(client, auth, buyer):
    auth.login()
    response = client.get("/admin/credits/purchase")
    assert response.status_code == 301 and response.location == "/credits/purchase"
