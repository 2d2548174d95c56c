"""The `okrsync` command.

Exit codes: 0 fine; 1 a source failed (the others still synced); 2 the config or the
environment is wrong (a problem in the file, an unset secret, an unreadable key file, a
listen address in use); 3 an internal error: one line on stderr, the traceback only with
`--log-level debug`.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Start-up: `okrsync --help` imports nothing of okrsync's own beyond this module, and each
# command imports what it uses inside its handler, so `validate`, `status` and `metric`
# never load the HTTP clients, the migrations (Alembic) or the sandbox (tests/test_startup.py).
if TYPE_CHECKING:
    from okrsync.config import Config, LoadedConfig, Problem
    from okrsync.domain import Report
    from okrsync.service import CycleResult, SourceFactory
    from okrsync.service.labels import SourceLabels
    from okrsync.store import Store

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_CONFIG = 0, 1, 2
# Anything okrsync has no sentence for (a bug, mostly): 1 stays "a source failed".
EXIT_INTERNAL = 3


def main(argv: Sequence[str] | None = None) -> int:
    global _collecting
    # Start-up (the imports, pydantic building the config models, SQLAlchemy's tables)
    # makes ~65,000 objects that live as long as the process, and next to no garbage: the
    # cyclic collector walked them ~150 times during `status`, and once more at exit: ~110
    # ms of its ~520. It stays off until the command's own work begins (`_started`), and
    # what start-up made is then frozen: never walked again.
    _collecting, thaw = gc.isenabled(), argv is not None and gc.get_freeze_count() == 0
    gc.disable()
    try:
        return _main(argv)
    finally:
        _started()
        if thaw:  # not the program (a test, an embedding program): its collector gets them back
            gc.unfreeze()


# Whether the cyclic collector was on when `main` was called (a caller may have it off).
_collecting = True


def _started() -> None:
    """Start-up is over: what it made is frozen and, unless it was off before `main`,
    the collector runs again, for the work itself (a large store, a daemon)."""
    if _collecting and not gc.isenabled():
        gc.freeze()
        gc.enable()


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from okrsync.config import ConfigError
    from okrsync.logs import configure_logging, redact_text

    configure_logging(args.log_level, args.log_format)
    try:
        problems = _unreadable_files(args)
        if problems:
            raise ConfigError(problems)
        return int(args.handler(args))
    except ConfigError as error:
        for problem in error.problems:
            print(redact_text(str(problem)), file=sys.stderr)
        return EXIT_CONFIG
    except Exception as error:
        return _internal_error(error, debug=args.log_level == "debug")


def _internal_error(error: Exception, *, debug: bool) -> int:
    """One redacted line; the traceback (redacted too) only at `--log-level debug`."""
    import traceback

    from okrsync.logs import redact_text

    message = " ".join(redact_text(str(error)).split())
    print(f"okrsync: internal error: {type(error).__name__}: {message}", file=sys.stderr)
    if debug:
        print(redact_text("".join(traceback.format_exception(error))), end="", file=sys.stderr)
    return EXIT_INTERNAL


# The two service functions tests replace (`monkeypatch.setattr(okrsync.cli, ...)`), kept
# as names of this module that load the service on first call.
def source_factory(config: Config) -> SourceFactory:
    from okrsync.service.connectors import source_factory as factory

    return factory(config)


def current_report(config: Config, store: Store, now: datetime) -> Report:
    from okrsync.service.pipeline import current_report as report

    return report(config, store, now)


def _unreadable_files(args: argparse.Namespace) -> list[Problem]:
    """Files the sources to run read when they connect (a GitHub App's key), checked
    before anything starts, each as `file:line: key: cannot read PATH: why`. Secret
    files (`token_file`, ...) are left to `missing_secrets`, which reads them."""
    if args.command not in ("sync", "run") and not getattr(args, "check_labels", False):
        return []
    loaded = _load(args)
    wanted = set(getattr(args, "sources", None) or loaded.config.sources.enabled())
    problems = []
    for name, source in loaded.config.sources.items():
        if name not in wanted:
            continue
        secrets = {("sources", name, *ref[0]) for ref in source.secrets()}
        for key, path in _file_settings(source.model_dump(), ("sources", name)):
            if key in secrets:
                continue
            try:
                Path(path).open("rb").close()
            except OSError as error:
                why = error.strerror or type(error).__name__
                problems.append(loaded.problem(key, f"cannot read {path}: {why}"))
    return problems


def _file_settings(
    settings: dict[str, Any], at: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every `*_file` setting with a value, at any depth, with its key path."""
    for key, value in settings.items():
        if isinstance(value, dict):
            yield from _file_settings(value, (*at, key))
        elif key.endswith("_file") and isinstance(value, str) and value:
            yield (*at, key), value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("okrsync")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when asked (metadata is slow)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"okrsync {_version()}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="okrsync", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument(
        "--config", help="config file (default: $OKRSYNC_CONFIG or config/okrsync.yaml)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-format", default="auto", choices=["auto", "json", "console"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check the config; every problem as file:line",
        description="Check the config: every problem as file:line, exit 2. With "
        "--check-labels, also connect to every configured source (secrets required), list "
        "the KR labels in use there with the KR each maps to, and flag those naming no KR: "
        "exit 1 when a label names no KR or a source cannot be read. Writes nothing.",
    )
    validate.add_argument(
        "--check-labels",
        action="store_true",
        help="list the KR labels in use in each source and flag those naming no KR",
    )
    validate.set_defaults(handler=_validate)

    schema = commands.add_parser("schema", help="print the config's JSON Schema")
    schema.set_defaults(handler=_schema)

    sync = commands.add_parser("sync", help="run one sync cycle")
    sync.add_argument("--once", action="store_true", help="one cycle, then exit (the only mode)")
    sync.add_argument(
        "--dry-run", action="store_true", help="print the write-back plan, write nothing"
    )
    sync.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="only this source (repeatable)",
    )
    sync.add_argument(
        "--full",
        action="store_true",
        help="ignore bookmarks: pull everything again, and reconcile the managed comments",
    )
    sync.add_argument("--now", type=_instant, help="evaluate the cycle as of this ISO-8601 instant")
    sync.add_argument(
        "--wait",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for a source another okrsync is syncing (default 60), then "
        "exit 1; not used with --dry-run, which writes nothing back",
    )
    sync.set_defaults(handler=_sync)

    run = commands.add_parser("run", help="the daemon: scheduled cycles, HTTP endpoint, webhooks")
    run.add_argument(
        "--shutdown-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM, how long the cycle in flight may take to finish",
    )
    run.set_defaults(handler=_run)

    db = commands.add_parser("db", help="the store's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_upgrade = db_commands.add_parser("upgrade", help="apply migrations up to the newest")
    db_upgrade.set_defaults(handler=_db_upgrade)

    status = commands.add_parser("status", help="show OKR status from the store")
    status.add_argument("--format", default="table", choices=["table", "json", "markdown"])
    status.add_argument(
        "--now", type=_instant, help="evaluate the cycle as of this ISO-8601 instant"
    )
    status.set_defaults(handler=_status)

    report = commands.add_parser(
        "report", help="write the OKR report as one self-contained HTML page (reads the store)"
    )
    report.add_argument("--html", required=True, metavar="FILE", help="where to write the page")
    report.add_argument(
        "--now", type=_instant, help="evaluate the cycle as of this ISO-8601 instant"
    )
    report.set_defaults(handler=_report)

    explain = commands.add_parser(
        "explain",
        help="why an item counts toward its KRs (or none): labels, parents, bucket, weight",
        description="Explain one work item from the store: its KRs and why, its bucket, its "
        "weight, whether it is a write-back target and what okrsync last wrote there. The "
        "store keeps only each item's latest state, so the answer is about the item as last "
        "pulled; --now only dates the KR numbers shown.",
    )
    explain.add_argument(
        "item",
        metavar="ITEM",
        help="jira:KEY, github:OWNER/REPO#N, asana:GID, or a bare key (looked up in every source)",
    )
    explain.add_argument("--format", default="text", choices=["text", "json"])
    explain.add_argument(
        "--now", type=_instant, help="evaluate the KR numbers as of this ISO-8601 instant"
    )
    explain.set_defaults(handler=_explain)

    metric = commands.add_parser("metric", help="outcome metric check-ins")
    metric_commands = metric.add_subparsers(dest="metric_command", required=True, metavar="ACTION")
    metric_set = metric_commands.add_parser("set", help="record a KR's current value")
    metric_set.add_argument("kr", metavar="KR-ID")
    metric_set.add_argument("value", type=float, metavar="VALUE")
    metric_set.add_argument("--at", type=_instant, help="when it was measured (default: now)")
    metric_set.add_argument("--note", help="why the value is what it is (shown by `metric list`)")
    metric_set.add_argument(
        "--confidence", type=_confidence, help="how sure the value is, from 0 to 1"
    )
    metric_set.set_defaults(handler=_metric_set)
    metric_list = metric_commands.add_parser("list", help="a KR's samples, oldest first")
    metric_list.add_argument("kr", metavar="KR-ID")
    metric_list.add_argument("--format", default="text", choices=["text", "json"])
    metric_list.set_defaults(handler=_metric_list)
    metric_delete = metric_commands.add_parser("delete", help="delete a KR's sample at an instant")
    metric_delete.add_argument("kr", metavar="KR-ID")
    metric_delete.add_argument("--at", type=_instant, required=True, help="the sample's instant")
    metric_delete.set_defaults(handler=_metric_delete)
    metric_import = metric_commands.add_parser(
        "import", help="record check-ins from a CSV file: kr,at,value[,note][,confidence]"
    )
    metric_import.add_argument("file", metavar="FILE.csv")
    metric_import.set_defaults(handler=_metric_import)

    demo = commands.add_parser("demo", help="the whole loop against the bundled sandbox")
    demo.add_argument("--keep", metavar="DIR", help="keep the demo's config and store in DIR")
    demo.set_defaults(handler=_demo)

    sandbox = commands.add_parser("sandbox", help="serve the seeded sandboxes until interrupted")
    sandbox.add_argument("--mode", default="cloud", choices=["cloud", "server"], help="Jira's mode")
    sandbox.set_defaults(handler=_sandbox)
    return parser


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"not a number of seconds >= 0: {text!r}")
    return seconds


def _load(args: argparse.Namespace) -> LoadedConfig:
    from okrsync.config import load_config, resolve_config_path

    return load_config(resolve_config_path(args.config))


def _validate(args: argparse.Namespace) -> int:
    from okrsync.config import ConfigError, missing_secrets
    from okrsync.logs import redact_text

    loaded = _load(args)
    config = loaded.config
    names = config.sources.enabled()
    if args.check_labels:
        missing = missing_secrets(loaded, names)
        if missing:
            raise ConfigError(missing)
    krs = sum(len(o.key_results) for o in config.objectives)
    print(
        f"{loaded.path}: ok ({len(config.objectives)} objectives, {krs} key results, "
        f"sources: {', '.join(names) or 'none'})"
    )
    if not args.check_labels:
        return EXIT_OK
    from okrsync.service.labels import collect_labels

    _started()

    results = collect_labels(config, source_factory(config), names)
    print(redact_text("\n".join(_labels_lines(results))))
    failed = any(result.error is not None for result in results)
    unknown = any(result.unknown for result in results)
    return EXIT_SOURCE_FAILED if failed or unknown else EXIT_OK


def _labels_lines(results: Sequence[SourceLabels]) -> Iterator[str]:
    """Each source's KR labels and the KRs they map to, then one summary line."""
    for result in results:
        requests = _plural(result.requests, "request")
        if result.error is not None:
            yield f"{result.name}: FAILED: {_one_line(result.error)}" + (
                f"; {requests}" if result.requests else ""
            )
            continue
        naming_none = f", {len(result.unknown)} naming no KR" if result.unknown else ""
        yield f"{result.name}: {_plural(len(result.checks), 'KR label')}{naming_none}; {requests}"
        for check in result.checks:
            label = _one_line(check.label)
            if check.unknown is None:
                krs = ", ".join(f"{m.kr_id} ({_rule_text(m.rule, m.kr_id)})" for m in check.matches)
                yield f"  {label} -> {krs}"
            else:
                hint = f"; did you mean {check.suggestion}?" if check.suggestion else ""
                yield f"  {label} -> unknown KR {_one_line(check.unknown)}{hint}"
    unknown = [(r.name, len(r.unknown)) for r in results if r.unknown]
    failed = [r.name for r in results if r.error is not None]
    parts = []
    if unknown:
        total = sum(count for _, count in unknown)
        per_source = ", ".join(f"{name} {count}" for name, count in unknown)
        parts.append(f"{_plural(total, 'label')} naming no KR ({per_source})")
    if failed:
        parts.append(f"{_plural(len(failed), 'source')} not read ({', '.join(failed)})")
    if not results:
        parts.append("no source configured")
    yield "labels: " + ("; ".join(parts) if parts else "every KR label names a KR")


def _rule_text(rule: str, kr_id: str) -> str:
    return "label_pattern" if rule == "label_pattern" else f"{kr_id} labels"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _schema(args: argparse.Namespace) -> int:
    import json

    from okrsync.config import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _sync(args: argparse.Namespace) -> int:
    from okrsync.config import ConfigError, missing_secrets
    from okrsync.service import run_cycle
    from okrsync.store import Store

    loaded = _load(args)
    config = loaded.config
    unknown = sorted(set(args.sources or ()) - set(config.sources.enabled()))
    if unknown:
        print(f"okrsync: no configured source named {', '.join(unknown)}", file=sys.stderr)
        return EXIT_CONFIG
    names = args.sources or config.sources.enabled()
    missing = missing_secrets(loaded, names)
    if missing:
        raise ConfigError(missing)
    from okrsync.service.writer import SourceBusyError, SourceLeases

    store = Store(config.store.url)
    _started()
    try:
        # The daemon's per-source leases: never two writers of one target at once. A dry
        # run writes nothing back (its items and bookmarks are single-statement upserts),
        # so it takes none and never waits.
        with SourceLeases(store, [] if args.dry_run else names, wait=args.wait):
            result = run_cycle(
                config,
                store,
                source_factory(config),
                now=args.now or datetime.now(UTC),
                only=names,
                dry_run=args.dry_run,
                full=args.full,
                config_dir=loaded.path.parent,
            )
    except SourceBusyError as busy:
        print(f"okrsync: {busy}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    finally:
        store.close()
    _print_cycle(result, args.dry_run)
    return result.exit_code


def _print_cycle(result: CycleResult, dry_run: bool) -> None:
    from okrsync.domain import problems_summary
    from okrsync.logs import redact_text

    if dry_run:
        from okrsync.service.planning import comment_writes, plan_lines

        comments = comment_writes(result.plan)
        print(
            f"Write-back plan ({len(comments)} comments to write, {len(result.plan)} "
            "operations in all; dry run: nothing written)"
        )
        for line in plan_lines(result.plan):
            print(redact_text(line))
        for write in comments:
            verb = "edit" if write.known_remote_id else "create or adopt"
            header = f"\n--- {write.target}: {verb} the managed comment ---\n"
            print(redact_text(header + write.body))
    for outcome in result.sources:
        state = (
            "ok"
            if outcome.ok
            else "FAILED: "
            + redact_text("; ".join([outcome.error] if outcome.error else outcome.write_errors))
        )
        print(
            f"{outcome.name}: {state}; pulled {outcome.pulled}, "
            f"comments created {outcome.created}, "
            f"edited {outcome.edited}, unchanged {outcome.skipped}; {outcome.requests} requests"
        )
    for error in result.metric_errors:
        print(f"metric: FAILED: {redact_text(str(error))}")
    print(redact_text(problems_summary(result.report.problems)))


def _run(args: argparse.Namespace) -> int:
    from okrsync.config import resolve_config_path
    from okrsync.service.daemon import Daemon
    from okrsync.service.http import ListenError

    daemon = Daemon(resolve_config_path(args.config), shutdown_timeout=args.shutdown_timeout)
    _started()
    try:
        return daemon.run()
    except ListenError as error:  # the environment, like the config: fix it and rerun
        print(f"okrsync: {error}", file=sys.stderr)
        return EXIT_CONFIG


def _db_upgrade(args: argparse.Namespace) -> int:
    from okrsync.store import upgrade

    url = _load(args).config.store.url
    print(f"store at revision {upgrade(url)}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    import json

    from okrsync.logs import redact_text
    from okrsync.render.status import report_console, report_markdown, report_table, report_to_json
    from okrsync.store import Store

    config = _load(args).config
    # Loaded in start-up, before the collector is back on: the pipeline, and rich's console.
    import okrsync.service.pipeline  # noqa: F401

    console = report_console() if args.format == "table" else None
    with Store(config.store.url) as store:
        _started()
        report = current_report(config, store, args.now or datetime.now(UTC))
    if args.format == "json":
        print(redact_text(json.dumps(report_to_json(report), indent=2)))
    elif args.format == "markdown":
        print(redact_text(report_markdown(report)))
    else:
        assert console is not None
        with console.capture() as table:
            console.print(report_table(report, console.width))
        print(redact_text(table.get()), end="")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from okrsync.logs import redact_text
    from okrsync.service.report import report_html
    from okrsync.store import Store

    config = _load(args).config
    with Store(config.store.url) as store:
        _started()
        page = report_html(config, store, args.now or datetime.now(UTC))
    path = Path(args.html)
    path.write_text(redact_text(page), encoding="utf-8")
    print(f"report written to {path} ({len(page.encode()) // 1024 + 1} KiB)")
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    import json

    from okrsync.service.explain import UnknownItem, explain, explanation_text, explanation_to_json
    from okrsync.store import Store

    config = _load(args).config
    store = Store(config.store.url)
    _started()
    try:
        result = explain(config, store, args.item, args.now or datetime.now(UTC))
    except UnknownItem as error:
        print(error, file=sys.stderr)
        return EXIT_CONFIG
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(explanation_to_json(result), indent=2))
    else:
        print("\n".join(explanation_text(result)))
    return EXIT_OK


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _metric_kr(loaded: LoadedConfig, kr_id: str) -> str | None:
    kr = loaded.config.key_result(kr_id)
    if kr is None:
        print(f"okrsync: no key result {kr_id!r} in {loaded.path}", file=sys.stderr)
        return None
    return kr.id


def _outside_cycle(loaded: LoadedConfig, at: datetime) -> bool:
    cycle = loaded.config.cycle
    return not cycle.start <= at.astimezone(UTC).date() <= cycle.end


def _metric_set(args: argparse.Namespace) -> int:
    import math

    from okrsync.domain import MetricSample
    from okrsync.store import Store

    loaded = _load(args)
    kr = loaded.config.key_result(args.kr)
    if kr is None:
        print(f"okrsync: no key result {args.kr!r} in {loaded.path}", file=sys.stderr)
        return EXIT_CONFIG
    if not math.isfinite(args.value):
        print(f"okrsync: {kr.id}: VALUE must be a finite number, not {args.value}", file=sys.stderr)
        return EXIT_CONFIG
    at = args.at or datetime.now(UTC)
    store = Store(loaded.config.store.url)
    try:
        added = store.add_sample(
            MetricSample(kr_id=kr.id, value=args.value, at=at),
            origin="manual",
            note=args.note,
            confidence=args.confidence,
        )
    finally:
        store.close()
    note = "recorded" if added else "already recorded"
    if added and _outside_cycle(loaded, at):
        note += " (outside the cycle: stored, not counted)"
    print(f"{kr.id} = {args.value:g}{kr.unit} at {at.isoformat()}: {note}")
    return EXIT_OK


def _metric_list(args: argparse.Namespace) -> int:
    import json

    from okrsync.logs import redact_text
    from okrsync.store import Store

    loaded = _load(args)
    kr_id = _metric_kr(loaded, args.kr)
    if kr_id is None:
        return EXIT_CONFIG
    store = Store(loaded.config.store.url)
    _started()
    try:
        records = store.sample_records(kr_id)
        error = store.metric_errors().get(kr_id)
    finally:
        store.close()
    rows = [
        {
            "at": record.at.isoformat(),
            "value": record.value,
            "origin": record.origin,
            "note": record.note,
            "confidence": record.confidence,
            "counted": not _outside_cycle(loaded, record.at),
        }
        for record in records
    ]
    if args.format == "json":
        print(redact_text(json.dumps({"kr": kr_id, "samples": rows, "metric_error": error})))
        return EXIT_OK
    for row in rows:
        extra = [f"confidence {row['confidence']:g}"] if row["confidence"] is not None else []
        extra += [] if row["counted"] else ["outside the cycle"]
        extra += [f"note: {row['note']}"] if row["note"] else []
        line = f"{row['at']}  {row['value']:g}  {row['origin']}"
        print(redact_text(line + ("  (" + "; ".join(extra) + ")" if extra else "")))
    if not rows:
        print(f"{kr_id}: no samples")
    if error:
        print(redact_text(f"{kr_id}: metric error: {error}"))
    return EXIT_OK


def _metric_delete(args: argparse.Namespace) -> int:
    from okrsync.store import Store

    loaded = _load(args)
    kr_id = _metric_kr(loaded, args.kr)
    if kr_id is None:
        return EXIT_CONFIG
    store = Store(loaded.config.store.url)
    try:
        deleted = store.delete_sample(kr_id, args.at)
    finally:
        store.close()
    if not deleted:
        print(f"okrsync: {kr_id} has no sample at {args.at.isoformat()}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    print(f"{kr_id}: deleted the sample at {args.at.isoformat()}")
    return EXIT_OK


def _metric_import(args: argparse.Namespace) -> int:
    from okrsync.domain import MetricSample
    from okrsync.metrics.csv import MetricFileError, read_checkins
    from okrsync.store import Store

    loaded = _load(args)
    try:
        checkins = read_checkins(Path(args.file))
    except MetricFileError as error:
        print(f"okrsync: {error}", file=sys.stderr)
        return EXIT_CONFIG
    krs = {checkin.kr_id: loaded.config.key_result(checkin.kr_id) for checkin in checkins}
    unknown = [checkin for checkin in checkins if krs[checkin.kr_id] is None]
    for checkin in unknown:
        where = f"{args.file}:{checkin.line}"
        print(f"okrsync: {where}: no key result {checkin.kr_id} in {loaded.path}", file=sys.stderr)
    if unknown:
        return EXIT_CONFIG
    store = Store(loaded.config.store.url)
    _started()
    added = outside = 0
    try:
        for checkin in checkins:
            kr = krs[checkin.kr_id]
            assert kr is not None
            sample = MetricSample(kr_id=kr.id, value=checkin.value, at=checkin.at)
            new = store.add_sample(sample, "import", checkin.note, checkin.confidence)
            added += new
            outside += new and _outside_cycle(loaded, checkin.at)
    finally:
        store.close()
    print(
        f"{args.file}: {len(checkins)} check-ins, {added} new, {len(checkins) - added} "
        f"already recorded"
        + (f"; {outside} outside the cycle (stored, not counted)" if outside else "")
    )
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    _started()
    # The demo narrates each cycle itself; per-request logs would bury that unless asked for.
    if args.log_level == "info":
        from okrsync.logs import configure_logging

        configure_logging("warning", args.log_format)
    try:
        from okrsync_sandbox.demo import run_demo
    except ImportError as error:
        return _without_sandbox("demo", error)
    return run_demo(Path(args.keep) if args.keep else None)


def _sandbox(args: argparse.Namespace) -> int:
    _started()
    try:
        from okrsync_sandbox.demo import serve_sandbox
    except ImportError as error:
        return _without_sandbox("sandbox", error)
    return serve_sandbox(args.mode)


# The sandbox (okrsync_sandbox, with openapi-core) comes with the `demo` extra: okrsync/
# imports it only inside the two commands above, never at module level.
EXIT_NO_SANDBOX = 2


def _without_sandbox(command: str, error: ImportError) -> int:
    print(
        f"okrsync {command} needs the sandbox: pip install 'okrsync[demo]' ({error})",
        file=sys.stderr,
    )
    return EXIT_NO_SANDBOX


if __name__ == "__main__":
    sys.exit(main())
