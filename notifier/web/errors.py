"""Errors as HTTP answers: `{"error": {"code", "message", "field"}}` with the right status."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from notifier.errors import ConflictError, FieldError, ForbiddenError, InputError, NotFoundError
from notifier.web.bounded_body import BodyTooLargeError


class UnauthorizedError(Exception):
    """No bearer token, or one we do not know."""


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    """The error body every API error uses."""
    body: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


async def unauthorized(_request: Request, error: Exception) -> Response:
    """401, asking for a bearer token."""
    response = error_response(401, "unauthorized", str(error) or "a valid bearer token is required")
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def forbidden(_request: Request, error: Exception) -> Response:
    """403: the token's role or stations do not allow this."""
    return error_response(403, "forbidden", str(error))


async def not_found(_request: Request, error: Exception) -> Response:
    """404: the named thing does not exist."""
    return error_response(404, "not_found", str(error))


async def conflict(_request: Request, error: Exception) -> Response:
    """409: the thing's state does not allow this."""
    return error_response(409, "conflict", str(error))


async def invalid(_request: Request, error: Exception) -> Response:
    """422 for one bad field, 400 for other bad input."""
    if isinstance(error, FieldError):
        return error_response(422, "invalid", error.reason, error.field)
    return error_response(400, "bad_request", str(error))


async def too_large(_request: Request, error: Exception) -> Response:
    """413: the body is over the route's limit; the rest of it is not read."""
    return error_response(413, "too_large", str(error))


async def http_error(_request: Request, error: Exception) -> Response:
    """Unknown paths and wrong methods answer in the same JSON shape as every other error."""
    assert isinstance(error, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    response = error_response(error.status_code, code, str(error.detail))
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


EXCEPTION_HANDLERS = {
    HTTPException: http_error,
    UnauthorizedError: unauthorized,
    ForbiddenError: forbidden,
    NotFoundError: not_found,
    ConflictError: conflict,
    InputError: invalid,
    BodyTooLargeError: too_large,
}
