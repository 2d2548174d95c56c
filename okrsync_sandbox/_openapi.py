"""Check sandbox exchanges against a vendor's OpenAPI description, with openapi-core.

Vendor descriptions are not always what the service does or what the official client
libraries send. Each disagreement the sandbox knowingly tolerates is a `Relaxation`: a
patch to the loaded description (or a lenient format check) with the reason written next
to it, so the list of exceptions is explicit, reviewable and in one place per vendor.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.security.exceptions import SecurityProviderError
from openapi_core.security.factories import SecurityProviderFactory
from openapi_core.security.providers import BaseProvider
from openapi_core.validation.request.exceptions import RequestBodyValidationError
from openapi_core.validation.response.exceptions import DataValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from okrsync_sandbox._server import HttpRequest, HttpResponse

SpecDict = dict[str, Any]
FormatCheck = Callable[[str], bool]


@dataclass(frozen=True, eq=False)
class Relaxation:
    """One documented difference between a vendor's description and the real service.

    `patch` edits the loaded description in place; `formats` replaces format checks
    (format name -> predicate on the string value).
    """

    why: str
    patch: Callable[[SpecDict], None] | None = None
    formats: Mapping[str, FormatCheck] = field(default_factory=dict)


@dataclass(slots=True)
class _SpecRequest:
    """openapi-core's `Request` protocol over an `HttpRequest`."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str


@dataclass(frozen=True, slots=True)
class _SpecResponse:
    """openapi-core's `Response` protocol over an `HttpResponse`."""

    status_code: int
    headers: Headers
    content_type: str
    data: bytes | None


class _BearerTokenProvider(BaseProvider):
    """openapi-core cannot check OAuth2 schemes (it only warns). An OAuth2 access token
    reaches an API as `Authorization: Bearer <token>` (RFC 6750), so check exactly that.
    Personal access tokens (Jira Data Center, GitHub, Asana) travel the same way.
    """

    def __call__(self, parameters: RequestParameters) -> Any:
        scheme, _, token = str(parameters.header.get("Authorization", "")).partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise SecurityProviderError("Missing bearer token.")
        return token


class _SecurityProviders(SecurityProviderFactory):
    PROVIDERS = {
        **SecurityProviderFactory.PROVIDERS,
        "oauth2": _BearerTokenProvider,
        "openIdConnect": _BearerTokenProvider,
    }


@functools.cache
def _read_spec(spec_path: Path) -> SpecDict:
    """Parse each description file once per process; callers get their own deep copy."""
    loaded: SpecDict = json.loads(spec_path.read_text(encoding="utf-8"))
    return loaded


class SpecValidator:
    """Validates requests and responses against an OpenAPI 3.0 description (JSON file).

    `path_prefix_map` rewrites request paths before lookup, e.g. serve Jira's v2 API
    against its v3 description with {"/rest/api/2/": "/rest/api/3/"}. `relax` lists the
    tolerated differences. The scheme and host of the description's first server URL
    stand in for the sandbox's own, since the sandbox runs wherever the test puts it; a
    path in that URL (Asana's /api/1.0) stays, and the sandbox serves under it.
    """

    def __init__(
        self,
        spec_path: str | Path,
        *,
        path_prefix_map: Mapping[str, str] | None = None,
        relax: Sequence[Relaxation] = (),
    ) -> None:
        spec = copy.deepcopy(_read_spec(Path(spec_path).resolve()))
        for relaxation in relax:
            if relaxation.patch is not None:
                relaxation.patch(spec)
        formats = {name: check for r in relax for name, check in r.formats.items()}
        self.relaxations = tuple(relax)
        # openapi-core joins host_url and the request path, then matches the server URL.
        server = urlsplit(spec["servers"][0]["url"])
        self._host_url = f"{server.scheme}://{server.netloc}"
        self._path_prefix_map = dict(path_prefix_map or {})
        self._openapi = OpenAPI.from_dict(
            spec,
            config=Config(
                spec_validator_cls=None,  # checked once, by the test of the vendored file
                extra_format_validators=formats or None,
                security_provider_factory=_SecurityProviders(),
            ),
        )
        # openapi-core resolves references lazily through shared caches: one at a time.
        self._lock = threading.Lock()

    def validate(self, request: HttpRequest, response: HttpResponse) -> list[str]:
        """Every problem with the request and with the response, one line each."""
        return self.validate_request(request) + self.validate_response(request, response)

    def validate_request(self, request: HttpRequest) -> list[str]:
        spec_request = self._spec_request(request)
        with self._lock:
            errors = list(self._openapi.iter_request_errors(spec_request))
        return _lines(f"request {request.method} {request.path}", errors)

    def validate_response(self, request: HttpRequest, response: HttpResponse) -> list[str]:
        payload = response.payload()
        headers = Headers(list(response.headers.items()))
        if response.content_type:
            headers["Content-Type"] = response.content_type
        spec_response = _SpecResponse(
            status_code=response.status,
            headers=headers,
            content_type=response.content_type,
            data=payload or None,
        )
        with self._lock:
            errors = list(
                self._openapi.iter_response_errors(self._spec_request(request), spec_response)
            )
        where = f"response {response.status} to {request.method} {request.path}"
        return _lines(where, errors)

    def _spec_request(self, request: HttpRequest) -> _SpecRequest:
        query = ImmutableMultiDict(
            [(name, value) for name, values in request.query.items() for value in values]
        )
        return _SpecRequest(
            host_url=self._host_url,
            path=self._spec_path(request.path),
            method=request.method.lower(),
            parameters=RequestParameters(query=query, header=Headers(request.headers)),
            body=request.body or None,
            content_type=request.content_type,
        )

    def _spec_path(self, path: str) -> str:
        for served_prefix, described_prefix in self._path_prefix_map.items():
            if path.startswith(served_prefix):
                return described_prefix + path.removeprefix(served_prefix)
        return path


def _lines(where: str, errors: Iterable[Exception]) -> list[str]:
    return [f"{where}: {_describe(error)}" for error in errors]


def _describe(error: Exception) -> str:
    """A one-line account of an openapi-core error, naming each failing JSON path.

    Body errors are not printed with `str(error)`: that embeds the whole body.
    """
    cause = error.__cause__
    schema_errors: Sequence[Any] = getattr(cause, "schema_errors", None) or ()
    is_body_error = isinstance(error, RequestBodyValidationError | DataValidationError)
    subject = "body" if is_body_error else str(error)
    if schema_errors:
        return f"{subject}: " + "; ".join(f"{e.json_path}: {e.message}" for e in schema_errors)
    if cause is not None:
        return f"{subject}: {cause}"
    return str(error)


__all__ = ["Relaxation", "SpecValidator"]
