"""The part every connector shares: one transport seam, error translation, retries, pulls.

A connector subclasses `Connector` and writes only what its API makes specific: how to
build a request, how to read a page, how a raw record becomes a `WorkItem`, and which
answers mean "rate limited". Everything here is the same for every source:

- `send(request) -> response`: the one place a request leaves (as httpx's
  `handle_request`); every answer is counted by method and status. Tests plug a
  transport double in through the constructor instead of patching anything globally.
  A connector `paced_by` a `Throttle` (GitHub) waits there first: spacing between
  requests and writes, and a nearly spent rate limit's reset (see `_throttle`).
- `error(...)`: an HTTP status becomes `RetriableError` (429/5xx, with how long the
  server asked us to wait), `AuthError` (401/403) or `FatalError`, never with headers
  or credentials in the message.
- `call(what, action)`: the action retried on `RetriableError`, waiting what
  `Retry-After` or the rate-limit reset says, by the connector's own clock and sleep.
- `pulled(...)`: the pull skeleton: records of every scope, de-duplicated by key, logged
  as `<source>.pulled`, and the bookmark to save once they are stored. A record the
  connector cannot read (a 200 without `updated`, a bad timestamp) fails the pull with a
  `FatalError` naming the record: skipping it would make a full pull delete the stored item.
- `ours(...)` and `drop_duplicates(...)`: adoption of managed comments. Only comments
  written by the okrsync account itself are adopted; the account (`who_am_i`) is asked
  once per connection, and only when a marked comment turns up.

Answers that are not what was asked for: a 2xx whose body is not JSON (an HTML page from a
proxy, JSON cut short by a dropped connection) is retried like a 5xx; a 401 once seen ends
every later call of this connection at once (the token was revoked: asking again only
costs requests and log lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from okrsync.domain import WorkItem
from okrsync.logs import get_logger
from okrsync.sources._base import PullResult, RequestCounter, finished_pull
from okrsync.sources._base import StreamingSource as StreamingSource  # re-exported
from okrsync.sources._errors import (
    AuthError,
    FatalError,
    RetriableError,
    SourceError,
    TargetGone,
)
from okrsync.sources._retry import RETRIABLE_STATUSES, call_with_retries, retry_after_seconds
from okrsync.sources._throttle import Throttle

if TYPE_CHECKING:  # requests loads with the first connection: commands that never connect skip it
    import requests
    from requests.adapters import BaseAdapter

T = TypeVar("T")
log = get_logger(__name__)

# Items handed to a pull's sink at a time (`Connector.stream_to`): ten pages of 100, one
# statement of the store's upsert.
STREAM_BATCH = 1000
# A record a scope may yield between pages: the items read so far go to the sink now,
# whatever their number (`Connector.pulled`).
FLUSH: dict[str, Any] = {}
Clock = Callable[[], float]
Sleep = Callable[[float], None]
# The transport seam: a prepared request in, the server's answer (any status) out.
Send = Callable[["requests.PreparedRequest"], "requests.Response"]
Raw = dict[str, Any]
# Who wrote something, as comparable keys ("account:5b10...", "user:1001", "app:42"): a
# comment is the okrsync account's when its author's keys meet the account's.
Identity = frozenset[str]


def since_ms(bookmark_ms: int | None, overlap_seconds: float) -> int | None:
    """Where an incremental pull starts: the bookmark minus the overlap (None: a full pull)."""
    return None if bookmark_ms is None else max(0, int(bookmark_ms - overlap_seconds * 1000))


def status_error(
    source: str,
    what: str,
    status: int,
    headers: Mapping[str, Any],
    detail: str = "",
    *,
    rate_limited: bool = False,
    now: float | None = None,
) -> SourceError:
    """Our error for an HTTP error status; `rate_limited` marks a retriable non-429 (GitHub's
    403 with no requests remaining). `detail` is the server's message, never its headers."""
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if rate_limited or status in RETRIABLE_STATUSES:
        told = retry_after_seconds({str(k): str(v) for k, v in headers.items()}, now)
        return RetriableError(source, message, status, told)
    if status in (401, 403):
        return AuthError(
            source, f"{what}: HTTP {status}: check the token and its permissions", status
        )
    return FatalError(source, message, status)


class HttpError(Exception):
    """An error answer on its way to becoming a `SourceError`, once the caller names `what`.

    Carries the status, the headers (for the wait) and the server's message; its text is
    only the status, so nothing sensitive can leak through it.
    """

    def __init__(self, status: int, headers: Mapping[str, Any], detail: str = ""):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = dict(headers)
        self.detail = detail


class SessionTransport:
    """The default transport: a `requests.Session`, as `Session.request` would send, with the
    proxies and CA bundle from the environment and the configured timeout.

    The environment's settings are read once per scheme and host (a connection lasts one
    cycle): reading them walks the whole environment twice, a quarter of a millisecond on
    every request of a pull's chain. The body is read in one call, not in requests' 10 KiB
    chunks: a listing page is 200 KiB, and each chunk is a pass through urllib3 and a
    hand-over of the GIL that the thread storing the pages may hold for milliseconds."""

    def __init__(self, session: requests.Session, timeout: float):
        self.session = session
        self.timeout = timeout
        self._settings: dict[str, dict[str, Any]] = {}  # by scheme and host

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        url = request.url or ""
        end = url.find("/", url.find("//") + 2) if "//" in url else -1
        origin = url if end < 0 else url[:end]
        settings = self._settings.get(origin)
        if settings is None:
            merged = self.session.merge_environment_settings(url, {}, None, None, None)
            settings = self._settings[origin] = {**merged, "stream": True}
        response = self.session.send(request, timeout=self.timeout, **settings)
        try:
            # requests' own read, whole: its errors are translated as `content`'s are.
            response._content = b"".join(response.iter_content(None))
        finally:
            response.close()  # the connection back to the pool (kept alive)
        return response


def seam_adapter(send: Send) -> BaseAdapter:
    """An adapter that, mounted on a client library's session, sends everything it
    prepares through `send`."""
    return _seam_adapter_class()(send)


@cache
def _seam_adapter_class() -> Callable[[Send], BaseAdapter]:
    from requests.adapters import BaseAdapter

    class SeamAdapter(BaseAdapter):
        def __init__(self, send: Send):
            super().__init__()
            self._send = send

        def send(  # the transport decides timeout, proxies and TLS: the rest is ignored
            self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
        ) -> requests.Response:
            return self._send(request)

        def close(self) -> None:
            pass

    return SeamAdapter


class Connector:
    """What every connector has: a name, a request counter, a clock, a sleep and retries."""

    name: str = ""

    def __init__(
        self,
        *,
        transport: Send | None = None,
        session: requests.Session | None = None,
        timeout: float = 30,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        attempts: int = 5,
    ):
        self.requests = RequestCounter()
        self._clock = clock
        self._sleep = sleep
        self._attempts = attempts
        # A session passed in belongs to its owner (it may be shared): never closed here.
        self._owns_session = session is None
        if session is None:
            import requests

            session = requests.Session()
        self._session = session
        self._transport: Send = transport or SessionTransport(self._session, timeout)
        self._identity: Identity | None = None
        self._foreign_logged: set[str] = set()
        self._revoked: AuthError | None = None
        self.throttle: Throttle | None = None  # see `paced_by`
        self._sink: Callable[[list[WorkItem]], None] | None = None  # see `stream_to`

    def paced_by(self, throttle: Throttle) -> None:
        """Send every request through `throttle` (spacing, quota), and every wait of this
        connector, its retries' too, through its sleep."""
        self.throttle = throttle
        self._sleep = throttle.sleep

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # ------------------------------------------------------------------ transport

    def send(self, request: requests.PreparedRequest) -> requests.Response:
        """The one place a request leaves; every answer is counted by method and status.
        A connector paced by a `Throttle` waits here first, as it says."""
        method, url = request.method or "GET", request.url or ""
        if self.throttle is not None:
            self.throttle.before(method, url)
        response = self._transport(request)
        self.requests.record(method, response.status_code)
        if self.throttle is not None:
            self.throttle.after(method, url, response.status_code, response.headers)
        return response

    def prepare(self, request: requests.Request) -> requests.PreparedRequest:
        return self._session.prepare_request(request)

    # ------------------------------------------------------------------ errors and retries

    def is_rate_limited(self, status: int, headers: Mapping[str, Any]) -> bool:
        """Whether an answer other than 429/5xx still means "come back later"."""
        return False

    def error(
        self, what: str, status: int, headers: Mapping[str, Any], detail: str = ""
    ) -> SourceError:
        return status_error(
            self.name,
            what,
            status,
            headers,
            detail,
            rate_limited=self.is_rate_limited(status, headers),
            now=self._clock(),
        )

    @contextmanager
    def translating(self, what: str) -> Iterator[None]:
        """Our errors out of `HttpError` and transport failures, with nothing chained."""
        import requests

        try:
            yield
        except HttpError as error:
            raise self.error(what, error.status, error.headers, error.detail) from None
        except requests.JSONDecodeError:  # a library reading an answer cut short or HTML
            raise RetriableError(self.name, f"{what}: the answer is not JSON") from None
        except requests.Timeout:
            raise RetriableError(self.name, f"{what}: timed out") from None
        except requests.ConnectionError:
            raise RetriableError(self.name, f"{what}: connection failed") from None
        except requests.RequestException as error:
            raise FatalError(self.name, f"{what}: {type(error).__name__}") from None

    def retried(self, action: Callable[[], T]) -> T:
        """`action` retried on RetriableError, waiting as told, by this connector's sleep.

        After a 401 nothing more is sent on this connection: the same error comes back."""
        if self._revoked is not None:
            raise self._revoked
        try:
            return call_with_retries(
                action,
                attempts=self._attempts,
                sleep=self._sleep,
                on_wait=self.requests.record_wait,
            )
        except AuthError as error:
            if error.status == 401:
                self._revoked = error
            raise

    def call(self, what: str, action: Callable[[], T]) -> T:
        """`action` with its errors translated (named `what`), retried."""

        def translated() -> T:
            with self.translating(what):
                return action()

        return self.retried(translated)

    # ------------------------------------------------------------------ pull

    def stream_to(self, sink: Callable[[list[WorkItem]], None] | None) -> None:
        """Hand the items of the next pulls to `sink` as they are read, in batches of
        `STREAM_BATCH` (or fewer, where a scope yields `FLUSH`), instead of keeping them
        all for the result: the
        result's `items` is then empty (the sink counts them). Its bookmark and ETags are
        still only those of a pull that read every page, for the caller to save once the
        pull returned (None: keep them all, the default)."""
        self._sink = sink

    def pulled(
        self,
        scopes: Iterable[Iterable[Raw]],
        work_item: Callable[[Raw], WorkItem],
        bookmark_ms: int | None,
        since: int | None,
        started_at: datetime,
        server_started: Callable[[], datetime | None],
        etags: Mapping[str, str] | None = None,
    ) -> PullResult:
        """Read every record of every scope (a project, a repository, a JQL) into one item
        per key, then the result and next bookmark. `server_started` is asked once all
        pages are read: the server's clock at the start of the pull, if it told it.
        `etags` (filled while the scopes are read) go into the result as they are then.
        With a sink (`stream_to`), the items go to it batch by batch as they are read."""
        before = self.requests.total
        sink = self._sink
        seen: dict[str, WorkItem] = {}
        keys: set[str] = set()
        newest: WorkItem | None = None
        batch: list[WorkItem] = []
        for records in scopes:
            for raw in records:
                if raw is FLUSH:
                    if sink is not None and batch:
                        sink(batch)
                        batch = []
                    continue
                item = self.read_record(work_item, raw)
                if sink is None:
                    # A page boundary shift, an update mid-walk or a task in two projects
                    # may repeat a record: keep one, the latest read.
                    seen[item.key] = item
                    continue
                # Streamed, a repeat is stored again: the store keeps the latest read.
                keys.add(item.key)
                if newest is None or item.updated > newest.updated:
                    newest = item
                batch.append(item)
                if len(batch) >= STREAM_BATCH:
                    sink(batch)
                    batch = []
        if sink is not None and batch:
            sink(batch)
        full = bookmark_ms is None
        count = len(seen) if sink is None else len(keys)
        log.info(f"{self.name}.pulled", items=count, full=full, since_ms=since)
        result = finished_pull(
            self.name,
            # Streamed, only the newest item is kept: what the next bookmark is read from.
            seen if sink is None else ({} if newest is None else {newest.key: newest}),
            bookmark_ms,
            started_at,
            server_started(),
            self.requests.total - before,
            etags,
        )
        return result if sink is None else replace(result, items=[])

    def read_record(self, work_item: Callable[[Raw], WorkItem], raw: Raw) -> WorkItem:
        """`work_item(raw)`, or a FatalError naming the record it could not read."""
        try:
            return work_item(raw)
        except KeyError as error:
            problem = f"has no {error.args[0]!r}"
        except (TypeError, ValueError, AttributeError):
            problem = "is not readable"
        raise FatalError(self.name, f"pull: record {self.record_name(raw)} {problem}") from None

    def record_name(self, raw: Raw) -> str:
        """How a record is named in an error: its key, gid or number."""
        for name in ("key", "gid", "number", "id"):
            if isinstance(raw, dict) and raw.get(name) is not None:
                return str(raw[name])[:100]
        return "(unnamed)"

    # ------------------------------------------------------------------ adoption

    def who_am_i(self) -> Identity:
        """The okrsync account's identity keys, read from the API (one request)."""
        raise NotImplementedError

    def identity(self) -> Identity:
        """`who_am_i`, asked once per connection (a connection lasts one cycle)."""
        if self._identity is None:
            self._identity = self.who_am_i()
        return self._identity

    def ours(self, target: str, marked: Sequence[tuple[str, Identity]]) -> list[str]:
        """Of the marked comments (id, author keys) on `target`, the ids of those written by
        the okrsync account, oldest (lowest id) first. The account is looked up only when
        there is a marked comment; someone else's is left alone and logged once."""
        if not marked:
            return []
        me = self.identity()
        mine = []
        for comment_id, author in marked:
            if author & me:
                mine.append(comment_id)
            elif comment_id not in self._foreign_logged:
                self._foreign_logged.add(comment_id)
                log.info(
                    "writeback.foreign_marker_ignored",
                    source=self.name,
                    target=target,
                    comment_id=comment_id,
                )
        return sorted(mine, key=_age)

    def drop_duplicates(
        self, target: str, kept: str, newer: Sequence[str], delete: Callable[[str], None]
    ) -> None:
        """Delete the okrsync account's extra managed comments on `target`, keeping `kept`."""
        if not newer:
            return
        for comment_id in newer:
            delete(comment_id)
        log.info(
            "writeback.duplicate_removed",
            source=self.name,
            target=target,
            kept=kept,
            removed=list(newer),
        )

    def target_gone(self, what: str, item: str, status: int) -> TargetGone:
        return TargetGone(self.name, f"{what} on {item}: the item is gone (HTTP {status})", status)


def _age(comment_id: str) -> tuple[int, str]:
    """Comment ids grow with time in all three systems: the lowest is the oldest."""
    return (int(comment_id), "") if comment_id.isdigit() else (2**63, comment_id)


def json_body(source: str, what: str, response: requests.Response) -> dict[str, Any]:
    """A response's JSON object: a RetriableError when it is not JSON, a FatalError when
    it is JSON but not an object."""
    try:
        body = response.json()
    except ValueError:  # an HTML page, or JSON cut short: worth another try
        status = response.status_code
        raise RetriableError(source, f"{what}: the answer is not JSON", status) from None
    if not isinstance(body, dict):
        raise FatalError(source, f"{what}: unexpected answer", response.status_code)
    return body
