"""The `okrsync` command. Exit codes: 0 fine, 1 a source failed, 2 the config is wrong."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from okrsync.config import (
    ConfigError,
    LoadedConfig,
    json_schema,
    load_config,
    missing_secrets,
    resolve_config_path,
)
from okrsync.domain import MetricSample
from okrsync.logs import configure_logging
from okrsync.render import report_console, report_markdown, report_table, report_to_json
from okrsync.service import CycleResult, current_report, run_cycle, source_factory
from okrsync.store import Store

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        return int(args.handler(args))
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="okrsync", description=__doc__)
    parser.add_argument(
        "--config", help="config file (default: $OKRSYNC_CONFIG or config/okrsync.yaml)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--log-format", default="auto", choices=["auto", "json", "console"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check the config; every problem as file:line")
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
    sync.add_argument("--full", action="store_true", help="ignore bookmarks: pull everything again")
    sync.add_argument("--now", type=_instant, help="evaluate the cycle as of this ISO-8601 instant")
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

    metric = commands.add_parser("metric", help="outcome metric check-ins")
    metric_commands = metric.add_subparsers(dest="metric_command", required=True, metavar="ACTION")
    metric_set = metric_commands.add_parser("set", help="record a KR's current value")
    metric_set.add_argument("kr", metavar="KR-ID")
    metric_set.add_argument("value", type=float, metavar="VALUE")
    metric_set.add_argument("--at", type=_instant, help="when it was measured (default: now)")
    metric_set.set_defaults(handler=_metric_set)

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


def _load(args: argparse.Namespace) -> LoadedConfig:
    return load_config(resolve_config_path(args.config))


def _validate(args: argparse.Namespace) -> int:
    loaded = _load(args)
    config = loaded.config
    krs = sum(len(o.key_results) for o in config.objectives)
    print(
        f"{loaded.path}: ok ({len(config.objectives)} objectives, {krs} key results, "
        f"sources: {', '.join(config.sources.enabled()) or 'none'})"
    )
    return EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _sync(args: argparse.Namespace) -> int:
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
    store = Store(config.store.url)
    try:
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
    finally:
        store.close()
    _print_cycle(result, args.dry_run)
    return result.exit_code


def _print_cycle(result: CycleResult, dry_run: bool) -> None:
    if dry_run:
        print(f"Write-back plan ({len(result.plan)} comments to write, dry run: nothing written)")
        for write in result.plan:
            verb = "edit" if write.known_remote_id else "create or adopt"
            print(f"\n--- {write.target}: {verb} the managed comment ---\n{write.body}")
    for outcome in result.sources:
        state = (
            "ok"
            if outcome.ok
            else "FAILED: " + "; ".join([outcome.error] if outcome.error else outcome.write_errors)
        )
        print(
            f"{outcome.name}: {state}; pulled {outcome.pulled}, "
            f"comments created {outcome.created}, "
            f"edited {outcome.edited}, unchanged {outcome.skipped}; {outcome.requests} requests"
        )
    for error in result.metric_errors:
        print(f"metric: FAILED: {error}")


def _run(args: argparse.Namespace) -> int:
    from okrsync.service.daemon import Daemon

    return Daemon(resolve_config_path(args.config), shutdown_timeout=args.shutdown_timeout).run()


def _db_upgrade(args: argparse.Namespace) -> int:
    from okrsync.store import upgrade

    url = _load(args).config.store.url
    print(f"store at revision {upgrade(url)}")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    config = _load(args).config
    store = Store(config.store.url)
    try:
        report = current_report(config, store, args.now or datetime.now(UTC))
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(report_to_json(report), indent=2))
    elif args.format == "markdown":
        print(report_markdown(report))
    else:
        report_console().print(report_table(report))
    return EXIT_OK


def _metric_set(args: argparse.Namespace) -> int:
    loaded = _load(args)
    kr = loaded.config.key_result(args.kr)
    if kr is None:
        print(f"okrsync: no key result {args.kr!r} in {loaded.path}", file=sys.stderr)
        return EXIT_CONFIG
    at = args.at or datetime.now(UTC)
    store = Store(loaded.config.store.url)
    try:
        added = store.add_sample(MetricSample(kr_id=kr.id, value=args.value, at=at))
    finally:
        store.close()
    note = "recorded" if added else "already recorded"
    print(f"{kr.id} = {args.value:g}{kr.unit} at {at.isoformat()}: {note}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    # The demo narrates each cycle itself; per-request logs would bury that unless asked for.
    if args.log_level == "info":
        configure_logging("warning", args.log_format)
    try:
        from okrsync_sandbox.demo import run_demo
    except ImportError as error:
        return _without_sandbox("demo", error)
    return run_demo(Path(args.keep) if args.keep else None)


def _sandbox(args: argparse.Namespace) -> int:
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
