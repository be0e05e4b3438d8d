# Copyright: quadstats.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""URL-encoded form bodies, parsed with the standard library.

Debian 13's ``python3-multipart`` is the ``multipart`` package, not the ``python-multipart`` that
Starlette's form parser imports, so ``request.form()`` and FastAPI's ``Form()`` fail in the image.
Pages post ``application/x-www-form-urlencoded`` (what a plain ``<form>`` and HTMX send) and read
it here. The body size is already bounded by ``BodyLimitMiddleware``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from ansible_collections.quadstats.stack.services.backend.http import bad_request

FORM_TYPE = "application/x-www-form-urlencoded"


def parse_form(body: bytes) -> dict[str, str]:
    """Fields of a URL-encoded body; the last value wins for repeated names; bad UTF-8 is a 400."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("body", "form data must be UTF-8") from None
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))


async def read_form(request: Request) -> dict[str, str]:
    """The request's form fields; a 415 naming the content type when it is not a URL-encoded form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise bad_request("content-type", f"send the form as {FORM_TYPE}", status=415)
    try:
        return parse_form(await request.body())
    except ValueError:  # more than max_num_fields
        raise bad_request("body", "too many form fields (at most 200)") from None
