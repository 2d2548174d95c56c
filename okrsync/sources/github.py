"""GitHub (and GitHub Enterprise): pull issues incrementally, keep one managed comment each.

Requests go through the connector's transport seam: with a token, on the connector's own
`requests` session (`Authorization: token ...`); as a GitHub App, through PyGithub's
requester (its installation tokens). Never through PyGithub's object model: a listed
`Issue` is incomplete, and reading a missing attribute silently costs one request per item.
Reading the listing's JSON directly makes that N+1 impossible, and a small paginator
follows the `Link` headers.

Pace, as GitHub's REST best practices ask: requests are serial, with no added pause
between reads (`seconds_between_requests`, default 0) and 1 s between writes
(`seconds_between_writes`), kept by the connector's own clock and sleep (a `Throttle` in the
transport seam; PyGithub's own spacing is off). Every answer's `X-RateLimit-Remaining` and
`X-RateLimit-Reset` are watched, per `X-RateLimit-Resource` (the hour's "core" and the
search API's minute): with `RATE_LIMIT_RESERVE` requests or fewer left, the next request
of that resource waits for the reset rather than spend the last ones (a reset more than
two minutes away fails the pull as rate limited instead: the next cycle tries again).

Rate limits met anyway, as GitHub documents them: `Retry-After` when it is there; else,
with `X-RateLimit-Remaining: 0`, until `X-RateLimit-Reset` (the primary limit, on a 403 or
a 429); else a 429, or a 403 saying "secondary rate limit", waits a minute
(`SECONDARY_WAIT`) before each retry. Any other 403 is a permission problem (`AuthError`).

Conditional requests: an incremental pull asks for each repository's listing with
`If-None-Match` when the store holds that URL's ETag (`use_etags`, before the pull). A 304
costs no quota and means the listing is exactly as it was: nothing changed since the
bookmark, so nothing is read and the bookmark stays (`next_bookmark`), which keeps the URL
the same for the next cycle. The ETag handed back (`PullResult.etags`) is that of the
listing's last page, when that page is not full (fewer than 100 records), under that
page's URL (`&page=K`; the first page's own URL for a one-page listing), and that is the
page the next pull asks first: an update moves an issue to the end of the ascending
listing, so while the last page has room, any change changes it, and "this page is
unchanged" means "nothing was updated since". A changed last page is set aside and the
listing read from its start (one request more, on a cycle that had changes anyway); with
a full last page no ETag is kept. A full pull never asks conditionally: it must see every
item, or it would delete what it did not see.

Speed: the pull's listing is read by a worker thread up to `PREFETCH` pages ahead while
the caller converts and stores the pages before (`LinkPaginator(prefetch=...)`, one
request in flight at a time), and the items go to the store as they are read
(`Connector.stream_to`), never all held at once. The worker's turn between two requests
is on the pull's critical path, so it stays short: the body is read in one call and
parsed from bytes with orjson (a 200 KiB page in 0.6 ms, where json with requests' text
decoding took 2 ms), and the environment's proxy settings are read once
(`SessionTransport`). Once the `Link`
header says the next page is the last, what was read so far is stored while that page
is on its way (`FLUSH`), so that only the last page is left to store after it.

Adoption: a comment with the marker is adopted only when the okrsync account wrote it:
with a token, its `user.id` is the one `GET /user` answers (asked once per cycle, only when
a marked comment turns up); as a GitHub App installation (which has no `/user`), its
`performed_via_github_app.id` is the configured `app.app_id`.

Health labels (`writeback.github.labels`): one `okr-health:*` label per target issue, set
with the fewest calls and never touching another label (see `_set_labels`).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import orjson

from okrsync.config import read_secret
from okrsync.domain import Bucket, WorkItem
from okrsync.logs import get_logger
from okrsync.sources._base import (
    UNLINKED_NOTE,
    CommentState,
    OperationOutcome,
    PlannedWrite,
    PullResult,
    RetireTarget,
    SetLabels,
    TargetOperation,
    WriteOutcome,
    text_fingerprint,
    utc_from_epoch_ms,
    write_managed_comment,
)
from okrsync.sources._core import (
    FLUSH,
    Clock,
    Connector,
    HttpError,
    Identity,
    Send,
    Sleep,
    since_ms,
)
from okrsync.sources._errors import AuthError, FatalError, RetriableError, SourceError
from okrsync.sources._headers import header, server_date
from okrsync.sources._retry import retry_after_seconds
from okrsync.sources._throttle import Throttle

# The settings, in their own module for the config (which never loads this one).
from okrsync.sources.github_config import (
    GithubAppConfig as GithubAppConfig,
)
from okrsync.sources.github_config import (
    GithubSourceConfig as GithubSourceConfig,
)
from okrsync.sources.github_config import (
    GithubWritebackConfig as GithubWritebackConfig,
)

if TYPE_CHECKING:  # PyGithub and requests load with the first connection
    import requests
    from github import Auth, Github

log = get_logger(__name__)

SOURCE = "github"
# An HTML comment: invisible on the page, and how okrsync finds its own comment again.
MARKER = "<!-- okrsync:managed -->"
PAGE_SIZE = 100
# Pages of an issue listing read ahead while the pull stores those before (`LinkPaginator`).
PREFETCH = 4
_NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')
_LAST_LINK = re.compile(r'<([^>]+)>;\s*rel="last"')
_REPO_URL = re.compile(r"/repos/([^/]+/[^/]+)$")
_ISSUE_URL = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)$")
# GitHub: "wait for at least one minute before retrying" a secondary limit without headers.
SECONDARY_WAIT = 60.0
_SECONDARY_LIMIT = re.compile(r"secondary rate limit|abuse detection", re.IGNORECASE)
# A deleted issue answers 410, one moved or hidden 404.
_GONE = (404, 410)
# Requests of a resource ("core", "search") left unspent: at or below it, wait for the reset.
RATE_LIMIT_RESERVE = 1
# The colours of okrsync's health labels, made in a repository that lacks them.
HEALTH_LABEL_COLOURS = {
    "okr-health:on-track": "2da44e",
    "okr-health:at-risk": "d29922",
    "okr-health:off-track": "cf222e",
    "okr-health:no-data": "8c959f",
}
DEFAULT_LABEL_COLOUR = "8c959f"
# Sent with a token (a GitHub App's requests are PyGithub's own).
ACCEPT = "application/vnd.github+json"
USER_AGENT = "okrsync"
# What `_json` gives for a 304 Not Modified answer (it has no body).
NOT_MODIFIED: Any = object()


@dataclass(frozen=True)
class IssueRef:
    repo: str
    number: int

    @classmethod
    def parse(cls, key: str) -> IssueRef:
        repo, number = key.rsplit("#", 1)
        return cls(repo, int(number))

    @property
    def key(self) -> str:
        return f"{self.repo}#{self.number}"


Fetch = Callable[[str, dict[str, Any] | None, dict[str, str] | None], tuple[dict[str, Any], Any]]


class LinkPaginator:
    """Follows `rel="next"` until there is none; GitHub's URLs carry every parameter.

    With `etags` (page key -> ETag, keys by `page_key`), the first page is asked for with
    `If-None-Match`; a 304 ends the listing with no page (`not_modified`). After a walk,
    `whole_etag()` is the first page's key and ETag when that page was the whole listing
    and not full (fewer than `per_page` records): the only case where a later 304 on it
    means that nothing in the listing changed.

    A listing in ascending `updated` order (`tail=True`: the issue listings) can say more:
    every update moves an issue to its end, so while its last page is not full, a change
    anywhere in it changes that last page. `listing_etag()` then hands back the last
    page's ETag, under the key of that page asked for by number (`&page=K` added to the
    first page's query, which GitHub serves as its `Link` does); the next walk asks that
    page first, with `If-None-Match`: a 304 means nothing changed (no page is read); any
    other answer is set aside and the listing read from its first page.

    With `prefetch` (a number of pages), the walk runs in a worker thread up to that many
    pages ahead of the caller, who works on the pages meanwhile: still one request in
    flight at a time, never two, for a caller that sends no request of its own between
    pages."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        base: str = "",
        etags: Mapping[str, str] | None = None,
        per_page: int = PAGE_SIZE,
        tail: bool = False,
        prefetch: int = 0,
    ):
        self._fetch = fetch
        self._base = base
        self._etags = etags or {}
        self._per_page = per_page
        self._tail = tail
        self._prefetch = prefetch
        self.first_headers: dict[str, Any] = {}
        self.not_modified = False
        self._first: tuple[str, int, bool] | None = None  # (key, records, had a next page)
        self._first_etag: str | None = None
        self._last: tuple[int, int, str | None] | None = None  # (page number, records, ETag)
        self._listing: tuple[str, dict[str, Any]] | None = None  # the first page's path, query
        self._pages = 0
        # The number of the page after which only the listing's last is left (its `Link`
        # says so), once met: set before that page is handed over.
        self.before_last: int | None = None

    def page_key(self, url: str, query: Mapping[str, Any] | None) -> str:
        """A page's full URL, as the ETags are stored by."""
        full = url if "://" in url else self._base + url
        return f"{full}?{urlencode(query)}" if query else full

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        walk = self._walk(path, params)
        if not self._prefetch:
            yield from walk
            return
        import queue
        import threading

        # The walk runs in one worker thread, one request at a time, at most `prefetch`
        # pages ahead of the caller, who works on the pages meanwhile.
        ahead: queue.Queue[tuple[list[dict[str, Any]] | None, BaseException | None]]
        ahead = queue.Queue(self._prefetch)
        stop = threading.Event()

        def run() -> None:
            try:
                for page in walk:
                    ahead.put((page, None))
                    if stop.is_set():  # the caller is gone: no further request
                        return
                ahead.put((None, None))
            except BaseException as error:  # handed to the caller, raised there
                ahead.put((None, error))

        worker = threading.Thread(target=run, name="okrsync-pages", daemon=True)
        worker.start()
        try:
            while True:
                page, error = ahead.get()
                if error is not None:
                    raise error
                if page is None:
                    return
                yield page
        finally:
            stop.set()
            while worker.is_alive():  # its request in flight ends first; its put is taken
                with contextlib.suppress(queue.Empty):
                    ahead.get(timeout=0.05)
            worker.join()

    def _walk(
        self, path: str, params: dict[str, Any]
    ) -> Generator[list[dict[str, Any]], None, None]:
        self._listing = (path, params)
        answered = self._ask_tail(path, params) if self._tail else None
        if self.not_modified:
            return
        url: str | None = path
        query: dict[str, Any] | None = params
        while url is not None:
            key = self.page_key(url, query)
            if answered is not None:  # the first page, asked for conditionally: changed
                (headers, data), answered = answered, None
            else:
                known = self._etags.get(key) if self._pages == 0 and not self._tail else None
                conditional = {"If-None-Match": known} if known else None
                headers, data = self._fetch(url, query, conditional)
            if not self.first_headers:
                self.first_headers = headers
            if data is NOT_MODIFIED and self._pages == 0:
                self.not_modified = True  # the listing is as it was when its ETag was saved
                return
            if not isinstance(data, list):  # never read as an empty page: nothing was listed
                raise FatalError(SOURCE, f"GET {url.split('?')[0]}: the answer is not a list")
            link = header(headers, "link") or ""
            match = _NEXT_LINK.search(link)
            last = _LAST_LINK.search(link) if match else None
            if match and last and last.group(1) == match.group(1):
                self.before_last = self._pages + 1
            if self._pages == 0:
                self._first = (key, len(data), match is not None)
                self._first_etag = header(headers, "ETag")
            self._pages += 1
            self._last = (self._pages, len(data), header(headers, "ETag"))
            yield data
            url, query = (match.group(1), None) if match else (None, None)

    def _ask_tail(self, path: str, params: dict[str, Any]) -> tuple[dict[str, Any], Any] | None:
        """Ask the stored last page of the listing with `If-None-Match`: on a 304,
        `not_modified`; on another answer for the first page, that answer (to be read
        as the first page); on one for a later page, None (it is set aside)."""
        stored = self._stored_tail(path, params)
        if stored is None:
            return None
        number, etag = stored
        query = params if number == 1 else {**params, "page": number}
        headers, data = self._fetch(path, query, {"If-None-Match": etag})
        self.first_headers = headers  # the pull's first answer: the server's clock then
        if data is NOT_MODIFIED:
            self.not_modified = True
            return None
        return (headers, data) if number == 1 else None

    def _stored_tail(self, path: str, params: dict[str, Any]) -> tuple[int, str] | None:
        """(page number, ETag) stored for the listing's last page: its first page's key,
        or that key with `&page=K` (the highest K, were there several)."""
        first = self.page_key(path, params)
        found: tuple[int, str] | None = None
        if first in self._etags:
            found = (1, self._etags[first])
        prefix = first + ("&" if "?" in first else "?") + "page="
        for key, etag in self._etags.items():
            number = key[len(prefix) :] if key.startswith(prefix) else ""
            if number.isdigit() and (found is None or int(number) > found[0]):
                found = (int(number), etag)
        return found

    def whole_etag(self) -> dict[str, str]:
        """{key: ETag} of the first page when it was the whole, not full, listing."""
        if self._first is None or self._pages != 1 or not self._first_etag:
            return {}
        key, records, had_next = self._first
        return {} if had_next or records >= self._per_page else {key: self._first_etag}

    def listing_etag(self) -> dict[str, str]:
        """{key: ETag} of the last page of a `tail` listing read whole, when that page is
        not full (see the class doc); {} otherwise."""
        if self._last is None or self._listing is None:
            return {}
        number, records, etag = self._last
        if records >= self._per_page or not etag:
            return {}
        path, params = self._listing
        return {self.page_key(path, params if number == 1 else {**params, "page": number}): etag}


class RequesterTransport:
    """The transport as a GitHub App: PyGithub's requester, with its auth (the App's
    installation tokens) and its connection (its spacing is off: the connector paces).

    Only the wire goes through it, not its object model; its answer, whatever the
    status, comes back as a `requests.Response` for the connector to check. Of the
    request's own headers only `If-None-Match` is passed on (the requester sets the rest).
    """

    def __init__(self, github: Github):
        self.github = github

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        import requests
        from requests.structures import CaseInsensitiveDict

        body = json.loads(request.body) if request.body else None
        conditional = {
            name: str(value)
            for name, value in request.headers.items()
            if name.lower() == "if-none-match"
        }
        # A full URL: the requester keeps its path and query (as for GitHub's own links).
        status, headers, output = self.github.requester.requestJson(
            request.method or "GET", request.url or "", headers=conditional or None, input=body
        )
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict({str(k): str(v) for k, v in headers.items()})
        response._content = output.encode("utf-8")
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response


class GithubSource(Connector):
    """A GitHub connection for one sync cycle: pages of 100, comments edited in place."""

    name = SOURCE

    def __init__(
        self,
        config: GithubSourceConfig,
        token: str | None,
        *,
        sleep: Sleep = time.sleep,
        clock: Clock = time.time,
        attempts: int = 5,
        transport: Send | None = None,
    ):
        self._github: Github | None = None
        # With a token, requests go out through the connector's own session (PyGithub, its
        # cryptography and JWT are a quarter second and 17 MiB to load, and a layer per
        # request); a GitHub App's installation tokens come from PyGithub's requester.
        own_session = transport is None and config.app is None
        if own_session and not token:
            raise AuthError(SOURCE, "no token: set the variable named by sources.github.token_env")
        if transport is None and not own_session:
            from github import Github

            self._github = Github(
                auth=_auth(config, token),
                base_url=config.url,
                per_page=PAGE_SIZE,
                timeout=config.timeout,
                retry=None,  # tenacity retries instead, honouring Retry-After and the reset
                # The connector's throttle paces, by the injected clock and sleep.
                seconds_between_requests=None,
                seconds_between_writes=None,
            )
            transport = RequesterTransport(self._github)
        super().__init__(
            transport=transport, timeout=config.timeout, clock=clock, sleep=sleep, attempts=attempts
        )
        if own_session:
            self._session.auth = _TokenAuth(token or "")
            self._session.headers.update({"Accept": ACCEPT, "User-Agent": USER_AGENT})
        self.paced_by(
            Throttle(
                SOURCE,
                clock,
                sleep,
                between_requests=config.seconds_between_requests,
                between_writes=config.seconds_between_writes,
                reserve=RATE_LIMIT_RESERVE,
                resource_of=_resource,
            )
        )
        self.config = config
        self._points = re.compile(config.points_label_pattern, re.IGNORECASE)
        self._etags: dict[str, str] = {}
        # Sub-issue pages' ETags read by `children`, to be saved with the children.
        self.children_etags: dict[str, str] = {}
        # Each repository's labels (lower case), read once per cycle by the first label write.
        self._repo_labels: dict[str, set[str]] = {}
        # The repository named by each `repository_url` met (one per repository).
        self._repo_names: dict[str, str] = {}

    def prepare(self, request: requests.Request) -> requests.PreparedRequest:
        """With PyGithub's requester as the transport (an App: its session, auth, headers),
        only the method, URL, body and `If-None-Match` are read from the request: it is
        prepared alone, without the session's merge (a netrc look-up per request)."""
        if self._github is None:
            return super().prepare(request)
        return request.prepare()

    def use_etags(self, etags: Mapping[str, str]) -> None:
        """The ETags the store holds for this source, by page URL (see the module doc)."""
        self._etags = dict(etags)

    def close(self) -> None:
        if self._github is not None:
            self._github.close()
        super().close()

    def error(
        self, what: str, status: int, headers: Mapping[str, Any], detail: str = ""
    ) -> SourceError:
        wait = self.rate_limit_wait(status, headers, detail)
        if wait is None:
            return super().error(what, status, headers, detail)
        message = f"{what}: HTTP {status}: {detail or 'rate limited'}"
        return RetriableError(SOURCE, message, status, wait)

    def rate_limit_wait(self, status: int, headers: Mapping[str, Any], detail: str) -> float | None:
        """Seconds to wait when a 403/429 is a rate limit (see the module docstring)."""
        if status not in (403, 429):
            return None
        told = retry_after_seconds({str(k): str(v) for k, v in headers.items()}, self._clock())
        if told is not None:
            return told
        if header(headers, "x-ratelimit-remaining") == "0" or status == 429:
            return SECONDARY_WAIT  # nothing remaining but no reset said, or a bare 429
        return SECONDARY_WAIT if _SECONDARY_LIMIT.search(detail) else None

    # ------------------------------------------------------------------ pull

    def pull(self, bookmark_ms: int | None, started_at: datetime) -> PullResult:
        since = since_ms(bookmark_ms, self.config.overlap)
        paginators: list[LinkPaginator] = []
        # A full pull must see every item: it never asks conditionally.
        stored = self._etags if bookmark_ms is not None else {}
        fresh: dict[str, str] = {}

        def issues(repo: str) -> Iterator[dict[str, Any]]:
            # Ascending by `updated`: its last page tells whether anything changed (`tail`);
            # the next page is asked for while this one is read and stored (`prefetch`).
            paginator = LinkPaginator(
                self._get, base=self.config.url, etags=stored, tail=True, prefetch=PREFETCH
            )
            paginators.append(paginator)
            listing = paginator.pages(f"/repos/{repo}/issues", self.issues_query(since))
            for number, page in enumerate(listing, 1):
                # The issues list includes pull requests; they count nowhere.
                yield from (raw for raw in page if "pull_request" not in raw)
                if number == paginator.before_last:
                    # What is read goes to the store while the last page is on its way:
                    # after it, only that page is left to store.
                    yield FLUSH
            if bookmark_ms is not None:  # read whole: its ETag may be saved with its items
                fresh.update(paginator.listing_etag())

        def server_started() -> datetime | None:
            dates = (server_date(paginator.first_headers) for paginator in paginators)
            return next((date for date in dates if date is not None), None)

        scopes = (issues(repo) for repo in self.config.repos)
        return self.pulled(
            scopes, self.work_item, bookmark_ms, since, started_at, server_started, fresh
        )

    def issues_query(self, since: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": PAGE_SIZE,
        }
        if since is not None:
            params["since"] = utc_from_epoch_ms(since).strftime("%Y-%m-%dT%H:%M:%SZ")
        return params

    def work_item(self, raw: dict[str, Any], parent: str | None = None) -> WorkItem:
        repo_url = raw.get("repository_url", "")
        repo = self._repo_names.get(repo_url)
        if repo is None:
            repo_match = _REPO_URL.search(repo_url)
            repo = self._repo_names[repo_url] = repo_match.group(1) if repo_match else ""
        labels = tuple(label["name"] for label in raw.get("labels") or [] if label.get("name"))
        summary = raw.get("sub_issues_summary") or {}
        return WorkItem(
            source=SOURCE,
            key=IssueRef(repo, int(raw["number"])).key,
            title=raw.get("title") or "",
            type="issue",
            status=_status(raw),
            bucket=_bucket(raw),
            points=self._points_from(labels),
            labels=labels,
            parent=parent or _parent_key(raw.get("parent_issue_url")),
            updated=datetime.fromisoformat(raw["updated_at"]),
            url=raw.get("html_url") or "",
            remote_id=str(raw.get("id", "")),
            child_count=summary.get("total"),
        )

    def _points_from(self, labels: tuple[str, ...]) -> float | None:
        for label in labels:
            match = self._points.search(label.strip())
            if match:
                return float(match.group("points"))
        return None

    def children(
        self, parents: Sequence[WorkItem], known: Mapping[str, Sequence[WorkItem]]
    ) -> list[WorkItem]:
        """Sub-issues the listings did not bring: those in repositories not configured.

        A parent's sub-issue page is asked with `If-None-Match` when an ETag is stored for
        it and the store holds every child the listings lack (a full pull deletes those
        children, as it does not list them): a 304 then means they are the stored ones,
        which are given back as they are. The ETags of the pages read are kept in
        `children_etags`, to be saved once the children are stored."""
        found: list[WorkItem] = []
        for parent in parents:
            children = known.get(parent.key, ())
            listed = sum(1 for c in children if IssueRef.parse(c.key).repo in self.config.repos)
            if not parent.child_count or parent.child_count <= listed:
                continue
            elsewhere = [c for c in children if IssueRef.parse(c.key).repo not in self.config.repos]
            stored = self._etags if listed + len(elsewhere) >= parent.child_count else {}
            ref = IssueRef.parse(parent.key)
            paginator = LinkPaginator(self._get, base=self.config.url, etags=stored)
            pages = paginator.pages(
                f"/repos/{ref.repo}/issues/{ref.number}/sub_issues", {"per_page": PAGE_SIZE}
            )
            for page in pages:
                found += [
                    self.read_record(partial(self.work_item, parent=parent.key), raw)
                    for raw in page
                ]
            if paginator.not_modified:
                found += elsewhere
            else:
                self.children_etags.update(paginator.whole_etag())
        return found

    def labels_in_use(self) -> set[str]:
        """The labels of each configured repository (on an issue or not yet): one request
        per repository and 100 labels, following `Link`."""
        found: set[str] = set()
        for repo in self.config.repos:
            pages = LinkPaginator(self._get).pages(f"/repos/{repo}/labels", {"per_page": PAGE_SIZE})
            for page in pages:
                found.update(
                    label["name"]
                    for label in page
                    if isinstance(label, dict) and isinstance(label.get("name"), str)
                )
        return found

    # ------------------------------------------------------------------ write-back

    def apply(self, write: PlannedWrite) -> WriteOutcome:
        """Bring the one managed comment of an issue up to date."""
        ref = IssueRef.parse(write.item_key)
        body = f"{MARKER}\n{write.body}"
        return write_managed_comment(
            write,
            lambda known: self.call("edit comment", lambda: self._edit(ref, known, body)),
            lambda: self.call(
                "write comment", lambda: self._adopt_or_create(ref, write.target, body)
            ),
        )

    def _edit(self, ref: IssueRef, comment_id: str, body: str) -> bool:
        try:
            self._json(
                "PATCH", f"/repos/{ref.repo}/issues/comments/{comment_id}", body={"body": body}
            )
        except HttpError as error:
            if error.status in _GONE:
                return False  # deleted by someone (or with its issue): find or post again
            raise
        return True

    def _delete(self, ref: IssueRef, comment_id: str) -> None:
        try:
            self._json("DELETE", f"/repos/{ref.repo}/issues/comments/{comment_id}")
        except HttpError as error:
            if error.status not in _GONE:  # already gone is what was wanted
                raise

    def _adopt_or_create(self, ref: IssueRef, target: str, body: str) -> tuple[str, str]:
        """Edit the oldest managed comment the okrsync account wrote (deleting any newer
        ones), or post one; someone else's comment with the marker is left alone."""
        pages = LinkPaginator(lambda url, params, _: self._json("GET", url, params)).pages(
            f"/repos/{ref.repo}/issues/{ref.number}/comments", {"per_page": PAGE_SIZE}
        )
        try:
            marked = [
                (_comment_id(comment), _author(comment))
                for page in pages
                for comment in page
                if MARKER in (comment.get("body") or "")
            ]
            ours = self.ours(target, marked)
            for index, comment_id in enumerate(ours):
                if self._edit(ref, comment_id, body):
                    newer = ours[index + 1 :]
                    self.drop_duplicates(target, comment_id, newer, partial(self._delete, ref))
                    return comment_id, "edited"
            _, created = self._json(
                "POST", f"/repos/{ref.repo}/issues/{ref.number}/comments", body={"body": body}
            )
        except HttpError as error:
            if error.status in _GONE:
                raise self.target_gone("write comment", ref.key, error.status) from None
            raise
        return _comment_id(created), "created"

    def who_am_i(self) -> Identity:
        if self.config.app is not None:  # an installation token has no /user
            return frozenset({f"app:{self.config.app.app_id}"})
        _, user = self._json("GET", "/user")
        if not isinstance(user, dict) or user.get("id") is None:
            raise FatalError(SOURCE, "GET /user: the answer names no user")
        return frozenset({f"user:{user['id']}"})

    # ------------------------------------------------------------------ health labels

    def apply_operations(self, operations: Sequence[TargetOperation]) -> Iterator[OperationOutcome]:
        """One issue's `okr-health:*` label (see `WritesOperations`); GitHub has no fields
        or properties okrsync writes."""
        for operation in operations:
            if isinstance(operation, SetLabels):
                yield self._set_labels(operation)
            elif isinstance(operation, RetireTarget):
                yield self._retire(operation)
            else:
                yield OperationOutcome(
                    operation, error=f"okrsync writes no {operation.op_key} to GitHub"
                )

    # ------------------------------------------------------------------ reconcile, retire

    def check_comment(self, item_key: str, comment_id: str, body: str) -> CommentState:
        """One `GET /repos/{o}/{r}/issues/comments/{id}`, compared by the text it holds."""
        ref = IssueRef.parse(item_key)
        return self.call("read comment", partial(self._check_comment, ref, comment_id, body))

    def _check_comment(self, ref: IssueRef, comment_id: str, body: str) -> CommentState:
        try:
            _, comment = self._json("GET", f"/repos/{ref.repo}/issues/comments/{comment_id}")
        except HttpError as error:
            if error.status in _GONE:
                return "deleted"
            raise
        found = comment.get("body") if isinstance(comment, dict) else None
        expected = text_fingerprint(f"{MARKER}\n{body}")
        return "same" if text_fingerprint(str(found or "")) == expected else "edited"

    def _retire(self, operation: RetireTarget) -> OperationOutcome:
        """The managed comment made the one-line note (marker kept) or deleted, and each
        of okrsync's labels taken off the issue (a 404: it lacks it already)."""
        ref, comment_id, note_id = IssueRef.parse(operation.item_key), operation.comment_id, ""
        if comment_id is not None and operation.mode == "note":
            note = f"{MARKER}\n{UNLINKED_NOTE}"
            if self.call("retire comment", partial(self._edit, ref, comment_id, note)):
                note_id = comment_id
        elif comment_id is not None:
            self.call("delete comment", partial(self._delete, ref, comment_id))
        for label in operation.labels:
            self.call("remove label", partial(self._remove_label, ref, label))
        return OperationOutcome(operation, remote_id=note_id)

    def _set_labels(self, operation: SetLabels) -> OperationOutcome:
        """With the fewest calls, never touching a label that is not okrsync's: each stale
        `okr-health:*` label the issue carries removed (`DELETE .../labels/{name}`), the
        wanted one added (`POST .../labels`, not `PUT`, which would replace them all and
        lose a label a person added since the pull) unless the issue has it already. A
        label missing from the repository is created first, with its colour."""
        ref = IssueRef.parse(operation.item_key)
        present = {label.lower() for label in operation.present}
        add = [label for label in operation.labels if label.lower() not in present]
        for label in add:
            self._ensure_label(ref.repo, label)
        for label in operation.remove:
            self.call("remove label", partial(self._remove_label, ref, label))
        if add:
            self.call("add labels", partial(self._add_labels, ref, add))
        return OperationOutcome(operation, remote_id=", ".join(operation.labels))

    def _ensure_label(self, repo: str, name: str) -> None:
        """Create `name` in `repo` (with its colour) unless the repository's labels, read
        once per cycle, have it."""
        known = self._repo_labels.get(repo)
        if known is None:
            known = {label.lower() for label in self._read_repo_labels(repo)}
            self._repo_labels[repo] = known
        if name.lower() in known:
            return
        self.call("create label", partial(self._create_label, repo, name))
        known.add(name.lower())

    def _read_repo_labels(self, repo: str) -> set[str]:
        found: set[str] = set()
        for page in LinkPaginator(self._get).pages(
            f"/repos/{repo}/labels", {"per_page": PAGE_SIZE}
        ):
            found.update(
                label["name"]
                for label in page
                if isinstance(label, dict) and isinstance(label.get("name"), str)
            )
        return found

    def _create_label(self, repo: str, name: str) -> None:
        body = {
            "name": name,
            "color": HEALTH_LABEL_COLOURS.get(name.lower(), DEFAULT_LABEL_COLOUR),
            "description": "OKR health, kept by okrsync",
        }
        try:
            self._json("POST", f"/repos/{repo}/labels", body=body)
        except HttpError as error:
            if error.status != 422:  # 422: it exists (made since the read, or a retry landed)
                raise

    def _remove_label(self, ref: IssueRef, name: str) -> None:
        path = f"/repos/{ref.repo}/issues/{ref.number}/labels/{quote(name, safe='')}"
        try:
            self._json("DELETE", path)
        except HttpError as error:
            if error.status == 410:
                raise self.target_gone("remove label", ref.key, error.status) from None
            if error.status != 404:  # 404: the issue lacks it already, as wanted
                raise

    def _add_labels(self, ref: IssueRef, names: list[str]) -> None:
        path = f"/repos/{ref.repo}/issues/{ref.number}/labels"
        try:
            self._json("POST", path, body={"labels": names})
        except HttpError as error:
            if error.status in _GONE:
                raise self.target_gone("add labels", ref.key, error.status) from None
            raise

    # ------------------------------------------------------------------ requests

    def _get(
        self, url: str, params: dict[str, Any] | None, headers: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """One page, retried on its own."""
        return self.call(
            "GET " + url.split("?")[0], lambda: self._json("GET", url, params, headers=headers)
        )

    def _json(
        self,
        method: str,
        url: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[dict[str, Any], Any]:
        """One request (a path, or a full URL from a `Link`): its headers and JSON
        (`NOT_MODIFIED` for a 304); an error answer raises `HttpError` with GitHub's
        `message`."""
        import requests

        full = url if "://" in url else self.config.url + url
        request = requests.Request(method, full, params=params, json=body, headers=headers)
        response = self.send(self.prepare(request))
        status = response.status_code
        if status == 304:
            return dict(response.headers), NOT_MODIFIED
        content = response.content
        try:
            data = orjson.loads(content) if content else None
        except ValueError:
            if status < 400:  # an HTML page or JSON cut short, on a success: try again
                path = full.split("?")[0].removeprefix(self.config.url)
                raise RetriableError(
                    SOURCE, f"{method} {path}: the answer is not JSON", status
                ) from None
            data = None
        headers = dict(response.headers)
        if status >= 400:
            message = data.get("message") if isinstance(data, dict) else None
            raise HttpError(status, headers, _one_line(str(message))[:300] if message else "")
        return headers, data

    # ------------------------------------------------------------------ counts (metrics)

    def search_count(self, query: str) -> int:
        """`total_count` of an issue search (`GET /search/issues`, one request of one
        result). The search API has its own limit, 30 requests a minute: callers space
        their searches (okrsync.metrics' token bucket), and a 403/429 from it is retried
        after its `Retry-After` or `X-RateLimit-Reset` as every rate limit is (bounded)."""
        params = {"q": query, "per_page": 1}
        _, body = self.call(
            "GET /search/issues", lambda: self._json("GET", "/search/issues", params)
        )
        found = body.get("total_count") if isinstance(body, dict) else None
        if isinstance(found, bool) or not isinstance(found, int) or found < 0:
            raise FatalError(SOURCE, "GET /search/issues: the answer has no total_count")
        if body.get("incomplete_results"):
            log.warning("github.search_incomplete", query=query, total_count=found)
        return found


class _TokenAuth:
    """`Authorization: token ...` on each request of the connector's session (as PyGithub
    sends a token); set by the session, so no netrc file is looked up per request, and not
    carried on a redirect to another host (requests drops it there)."""

    def __init__(self, token: str):
        self._header = f"token {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "_TokenAuth([redacted])"


def _resource(url: str) -> str:
    """Which of GitHub's rate limits a request spends, when its answer does not say."""
    return "search" if "/search/" in urlsplit(url).path else "core"


def _auth(config: GithubSourceConfig, token: str | None) -> Auth.Auth:
    from github import Auth

    if config.app is not None:
        key = Path(config.app.private_key_file).read_text(encoding="utf-8")
        app = Auth.AppAuth(config.app.app_id, key)
        return app.get_installation_auth(config.app.installation_id)
    if not token:
        raise AuthError(SOURCE, "no token: set the variable named by sources.github.token_env")
    return Auth.Token(token)


def _comment_id(comment: Any) -> str:
    if not isinstance(comment, dict) or comment.get("id") is None:
        raise FatalError(SOURCE, "a comment in the answer has no id")
    return str(comment["id"])


def _author(comment: dict[str, Any]) -> Identity:
    """Who wrote a comment: its user, and the GitHub App it was made through, if any."""
    keys = set()
    user = comment.get("user") or {}
    if isinstance(user, dict) and user.get("id") is not None:
        keys.add(f"user:{user['id']}")
    app = comment.get("performed_via_github_app") or {}
    if isinstance(app, dict) and app.get("id") is not None:
        keys.add(f"app:{app['id']}")
    return frozenset(keys)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _status(raw: dict[str, Any]) -> str:
    reason = raw.get("state_reason")
    return f"{raw.get('state', 'open')}:{reason}" if reason else str(raw.get("state", "open"))


def _bucket(raw: dict[str, Any]) -> Bucket:
    if raw.get("state") != "closed":
        return Bucket.TODO
    # Closed as not planned is dropped, not done: it counts nowhere.
    return Bucket.EXCLUDED if raw.get("state_reason") == "not_planned" else Bucket.DONE


def _parent_key(url: str | None) -> str | None:
    match = _ISSUE_URL.search(url or "")
    return f"{match['repo']}#{match['number']}" if match else None


def connect(config: GithubSourceConfig, environ: Mapping[str, str]) -> GithubSource:
    """A connection with the token from `environ`, or as the configured GitHub App."""
    ref = config.token()
    token = read_secret(ref, environ) if ref is not None else None
    return GithubSource(config, token=token)
