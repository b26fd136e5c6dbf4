"""Signing in to the console and out of it: the cookie, its expiry, revocation and CSRF."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from notifier.access import token_digest
from notifier.console import sessions
from notifier.store import tokens
from notifier.store.engine import Database
from tests.console.console_app import SECRET, Console, console_on, csrf_of


@pytest.fixture
async def console(database: Database) -> AsyncIterator[Console]:
    """The console over plain http."""
    async with console_on(database) as console:
        yield console


def _set_cookie(header: str) -> tuple[str, set[str]]:
    """The cookie's value and its attributes (lower case) from a Set-Cookie header."""
    first, *attributes = (part.strip() for part in header.split(";"))
    return first.partition("=")[2], {attribute.lower() for attribute in attributes}


async def test_sign_in_sets_a_signed_http_only_cookie(console: Console) -> None:
    """A valid token gets 303 to / and a cookie: HttpOnly, SameSite=Lax, Path=/, not Secure."""
    response = await console.client.post("/login", data={"token": console.nbo_officer})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    [header] = response.headers.get_list("set-cookie")
    assert header.startswith(f"{sessions.COOKIE}=")
    value, attributes = _set_cookie(header)
    assert {"httponly", "samesite=lax", "path=/", "max-age=28800"} <= attributes
    assert "secure" not in attributes
    assert console.nbo_officer not in header
    session = sessions.decode(value, SECRET)
    assert session is not None
    assert session.digest == token_digest(console.nbo_officer)


async def test_cookie_is_secure_behind_https(database: Database) -> None:
    """With an https public_url, the session cookie is marked Secure."""
    async with console_on(database, "https://notify.example.org") as console:
        response = await console.client.post("/login", data={"token": console.viewer})
    assert response.status_code == 303
    [header] = response.headers.get_list("set-cookie")
    assert "secure" in _set_cookie(header)[1]


@pytest.mark.parametrize("token", ["ntf_not-a-token", "", "   "])
async def test_wrong_token_gets_the_form_again_and_no_cookie(console: Console, token: str) -> None:
    """An unknown or empty token is answered 401 with the form and a message, and no cookie."""
    response = await console.client.post("/login", data={"token": token})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "This token is not valid" in response.text
    assert 'name="token"' in response.text


async def test_session_shows_the_console_with_name_and_role(console: Console) -> None:
    """Signed in, / is the console naming the principal, its role and stations."""
    session = await console.sign_in(console.nbo_officer)
    response = await console.get("/", session)
    assert response.status_code == 200
    assert "Amina NBO" in response.text
    assert "Security officer · NBO" in response.text
    assert 'action="/logout"' in response.text


@pytest.mark.parametrize("path", ["/", "/alerts/1", "/alerts/new"])
async def test_without_a_session_pages_redirect_to_login(console: Console, path: str) -> None:
    """Every console page answers 303 to /login without a session, or with a forged one."""
    for session in (None, "forged.value"):
        response = await console.get(path, session)
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


async def test_revoked_token_is_signed_out_at_the_next_request(console: Console) -> None:
    """Revoking the token ends its session at once: the next page is a 303 to /login."""
    session = await console.sign_in(console.nbo_officer)
    assert (await console.get("/", session)).status_code == 200
    async with console.database.session() as db:
        await tokens.revoke_token(db, "Amina NBO", console.clock.now(), actor="test")
    response = await console.get("/", session)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert response.headers["set-cookie"].startswith(f'{sessions.COOKIE}="";')


async def test_session_past_its_expiry_is_signed_out(console: Console) -> None:
    """A session lasts `console.session_minutes` (480): at that age it is signed out."""
    session = await console.sign_in(console.viewer)
    console.clock.at += timedelta(minutes=479)
    assert (await console.get("/", session)).status_code == 200
    console.clock.at += timedelta(minutes=1)
    response = await console.get("/", session)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


async def test_cookie_signed_with_another_key_is_refused(console: Console) -> None:
    """A session signed with another key (or salt) is no session."""
    real = sessions.decode(await console.sign_in(console.admin), SECRET)
    assert real is not None
    forged = sessions.encode(real, "another-secret-key-of-some-length")
    assert (await console.get("/", forged)).status_code == 303


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
async def test_post_without_the_right_csrf_is_403_and_changes_nothing(
    console: Console, csrf: str | None
) -> None:
    """Sign-out without its CSRF field, or with a wrong one, is 403; the session stays."""
    session = await console.sign_in(console.nbo_officer)
    data = {} if csrf is None else {"csrf": csrf}
    response = await console.post("/logout", session, data)
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert (await console.get("/", session)).status_code == 200


async def test_sign_out_with_its_csrf_clears_the_cookie(console: Console) -> None:
    """Sign-out with the page's CSRF value: 303 to /login and the cookie is deleted."""
    session = await console.sign_in(console.nbo_officer)
    csrf = csrf_of((await console.get("/", session)).text)
    response = await console.post("/logout", session, {"csrf": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert response.headers["set-cookie"].startswith(f'{sessions.COOKIE}="";')


async def test_csrf_of_another_session_is_refused(console: Console) -> None:
    """The CSRF value of one session does not pass for another's, even of the same token."""
    first = await console.sign_in(console.nbo_officer)
    second = await console.sign_in(console.nbo_officer)
    csrf = csrf_of((await console.get("/", first)).text)
    assert (await console.post("/logout", second, {"csrf": csrf})).status_code == 403


async def test_form_body_is_bounded(console: Console) -> None:
    """A sign-in form over `http.max_form_bytes` is refused with 413 and signs no one in."""
    response = await console.client.post("/login", data={"token": "x" * 20_000})
    assert response.status_code == 413
    assert "set-cookie" not in response.headers
