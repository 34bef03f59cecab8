"""The commands of ``healthopt``: parse, call, print; no planning logic here (exit codes: :mod:`healthopt.cli`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from healthopt import _signals
from healthopt.cli.checks import check_environment, check_output_folder, check_run_folder, check_scheduler
from healthopt.cli.failures import StdoutClosed, classify, guard_std_streams, silence_stdout

app = typer.Typer(
    help="Health-resource planning optimizer for Taiyuan / Jinzhong.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect the embedded dataset.", no_args_is_help=True)
network_app = typer.Typer(help="Build and inspect the road network.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(network_app, name="network")

# Logs and CI are not terminals: use a width that keeps the tables readable there.
_WIDTH = None if sys.stdout is not None and sys.stdout.isatty() else 160


class _Stdout(Console):
    """The stdout console: a reader that went away ends the command quietly, not with exit 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise StdoutClosed


console = _Stdout(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)
_STATE = {"debug": False, "json": False}


def _emit(event: dict) -> None:
    """Write one JSON log line to stderr (``--log-json``: machine-readable batch logs)."""
    sys.stderr.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
    sys.stderr.flush()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks.")) -> None:
    """Plan ambulances, health centres and hospital beds from scenario files."""
    _STATE["debug"] = debug


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


@data_app.command("info")
def data_info(
    root: Path | None = typer.Option(None, help="Dataset folder (default: embedded)."),
) -> None:
    """Print every embedded dataset with its source, licence and quality flag."""
    from healthopt.cli.tables import dataset_rows, district_rows
    from healthopt.data import load_taiyuan

    data = load_taiyuan(root)
    table = _table(f"Embedded datasets ({data.root})", ["dataset", "file", "rows", "source", "licence", "quality"])
    for row in dataset_rows(data):
        table.add_row(*row)
    _out(table)
    table = _table("Districts (2020 census residents)", [
        "code", "name", "kind", "ambulance norm", "residents", "quality", "streets", "towns+townships",
    ])  # fmt: skip
    for row in district_rows(data):
        table.add_row(*row)
    _out(table)
    for city, total in _city_totals(data).items():
        _out(f"{city}: {total:,} residents (units sum to the official census total)")
    _out(f"Norms: {len(data.norms)} figures in tables/norms.csv, each with its seed file and section.")
    _out("Road data: © OpenStreetMap contributors (ODbL 1.0).")


@data_app.command("osm")
def data_osm(
    area: str = typer.Option(..., "--area", help="taiyuan, jinzhong, shanxi, or a scenario file (its districts)."),
    dest: Path = typer.Option(Path("osm"), "--dest", help="Folder to keep the extract in."),
    url: str | None = typer.Option(None, "--url", help="An .osm.pbf/.osm extract to fetch instead of the default."),
    overpass_url: str | None = typer.Option(None, "--overpass-url", help="Overpass API endpoint."),
    sha256: str | None = typer.Option(None, "--sha256", help="Expected SHA-256 of the file."),
    max_mb: float = typer.Option(2000.0, "--max-mb", min=1.0, help="Refuse larger downloads."),
    refresh: bool = typer.Option(False, "--refresh", help="Download again even if a checked copy is kept."),
) -> None:
    """Download an OpenStreetMap extract for an area, check it, and print the scenario line to use it."""
    from healthopt.data.osm_download import DEFAULT_OVERPASS_URL, fetch_osm

    got = fetch_osm(area=area, dest=dest.resolve(), url=url, overpass_url=overpass_url or DEFAULT_OVERPASS_URL,
                    sha256=sha256, max_bytes=int(max_mb * 1e6), refresh=refresh)  # fmt: skip
    rec = got.provenance
    box = rec.get("bbox_wgs84") or []
    state = "downloaded" if got.downloaded else "already kept (checked against its record; --refresh fetches again)"
    _out_line(f"OSM extract {state}: {got.path}")
    _out_line(f"  {rec['bytes'] / 1e6:,.1f} MB, sha256 {rec['sha256']}, checksum: {rec['checksum_verified']}")
    if box:
        _out_line(f"  covers lon {box[0]:.3f}–{box[2]:.3f}, lat {box[1]:.3f}–{box[3]:.3f}; "
                  f"{rec.get('drivable_ways') or 0:,} drivable ways")
    _out_line(f"  source {rec['source_url']} ({rec['downloaded_utc']})")
    _out_line(f"  {rec['attribution']}, {rec['licence']}; provenance: {got.path}.provenance.json")
    _out_line("Add to your scenario file:")
    _out_line(got.scenario_lines())


def _city_totals(data) -> dict[str, int]:
    grouped = data.districts.groupby("city_zh", sort=False)["population"].sum()
    return {str(k): int(v) for k, v in grouped.items()}


@network_app.command("summary")
def network_summary(
    source: Path | None = typer.Option(None, help="OSM source (.osm, .osm.pbf or OSM lines GeoJSON)."),
    cutoff: float = typer.Option(30.0, help="Travel-time cutoff for the summary matrix (minutes)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Rebuild the graph even if cached."),
) -> None:
    """Build (or load from cache) the road graph and print a travel-time summary."""
    from healthopt.cli.tables import network_report

    report = network_report(source=source, cutoff_minutes=cutoff, use_cache=not no_cache)
    for title, rows in report.items():
        table = _table(title, ["item", "value"])
        for key, value in rows:
            table.add_row(key, value)
        _out(table)


def _interrupted() -> None:
    """Report Ctrl-C, SIGTERM or SIGHUP (the run's temporary folder is already removed) and exit.

    Exit code 130 for Ctrl-C, 128 + the signal number otherwise (143 SIGTERM, 129 SIGHUP).
    """
    code = _signals.exit_code()
    signum = _signals.received()
    what = "interrupted" if signum is None else f"terminated by {_signals.signal_name(signum)}"
    message = f"{what}: nothing partial was written"
    if _STATE["json"]:  # keep stderr parseable as JSON lines
        _emit({"event": "interrupted", "exit_code": code, "message": message})
    else:
        err_console.print(message)
    sys.exit(code)


def _fail(exc: BaseException) -> None:
    """End the command for ``exc``: one line (one JSON line under ``--log-json``) and its exit code."""
    failure = classify(exc)
    if _STATE["debug"]:
        raise exc
    if _STATE["json"]:
        _emit({"event": failure.event, "exit_code": failure.exit_code, "message": failure.message})
    elif failure.exit_code == 1:
        err_console.print(f"[bold red]internal error:[/] {escape(failure.message)} (rerun with --debug)",
                          highlight=False, soft_wrap=True)
    else:
        # Messages quote user text such as "[low, high]": never let rich read it as markup.
        err_console.print(f"[bold red]error:[/] {escape(failure.message)}", highlight=False, soft_wrap=True)
    sys.exit(failure.exit_code)


def _out(*objects: object) -> None:
    """Print to stdout; a reader that went away (``| head -1``) ends the command quietly."""
    try:
        console.print(*objects)
    except BrokenPipeError:  # rich reports it through on_broken_pipe; this is in case it does not
        raise StdoutClosed from None


def _out_line(text: str) -> None:
    """Print one plain line (JSON, a folder) to stdout, never wrapped or styled."""
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosed from None


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # only stdout's own: a broken socket elsewhere is an error, not this
        raise StdoutClosed from None


def run() -> None:
    """Entry point wrapping the Typer app with error-to-exit-code handling."""
    # Known before parsing, so that even a usage or import error is a JSON line under --log-json.
    _STATE.update(debug=False, json="--log-json" in sys.argv[1:])
    guard_std_streams()
    _signals.install()
    try:
        # Without standalone mode click returns (not raises) the code of typer.Exit.
        code = app(standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130) before it can reach the handler below
            _interrupted()
        _flush_stdout()
        if isinstance(code, int) and code:
            sys.exit(code)
    except StdoutClosed:
        # Everything was written; only the echo of it found nobody listening: success (0).
        silence_stdout()
        sys.exit(0)
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "show"):  # click usage errors carry their own exit code
            exc.show()
            sys.exit(code)
        _fail(exc)


@app.command("run")
def run_command(
    scenario: Path = typer.Argument(..., help="Scenario YAML file."),
    out: Path = typer.Option(Path("runs"), "-o", "--out", help="Parent folder of the run folder."),
    quiet: bool = typer.Option(False, "--quiet", help="Print only the output folder."),
    log_json: bool = typer.Option(False, "--log-json", help="JSON lines: steps on stderr, result on stdout."),
) -> None:
    """Run a scenario and write map, report, GeoPackage and summaries."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    _STATE["json"] = log_json  # reset too: the app may be called again in the same process
    check_environment()
    check_output_folder(out)
    from healthopt.pipeline.run import run_scenario

    t0 = time.perf_counter()
    if log_json or quiet:
        say = (lambda m: _emit({"event": "step", "step": m, "elapsed_s": round(time.perf_counter() - t0, 3)})) \
            if log_json else (lambda _m: None)
        result = run_scenario(scenario, out, progress=say)
    else:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("starting", total=None)
            result = run_scenario(scenario, out, progress=lambda m: bar.update(task, description=m))
    if log_json:
        s = result.summary
        _out_line(json.dumps({"event": "done", "folder": str(result.folder), "status": s["status"],
                              "optimal": s["optimal"], "kpis": s["kpis"], "timings_s": result.timings,
                              "graph_cache": result.graph_cache, "inputs_cache": result.inputs_cache},
                             ensure_ascii=False, default=str))
        return
    if quiet:
        _out_line(str(result.folder))
        return
    k = result.summary["kpis"]
    _out(f"[bold]{result.summary['scenario']['name']}[/]: {result.summary['status']}")
    if "fleet_planned" in k:
        _out(f"ambulances {k['fleet_planned']} (norm {k['fleet_norm']}), negative-pressure "
                      f"{k['np_planned']} ({k['np_share']:.0%}), stations {k['stations_planned']}")
        section: Any = result.summary.get("ambulances") or {}  # the ambulance plan's own section
        sim = section.get("simulated")  # the headline (issue 12)
        if sim and sim.get("reached_share") is not None:
            lo, hi = sim["reached_share_ci"]
            p90 = "beyond the travel-time matrix" if sim.get("p90_min") is None else f"{sim['p90_min']:.1f} min"
            _out(f"calls reached within the standard {sim['reached_share']:.1%} (95 % CI {lo:.1%}–{hi:.1%}; "
                 f"simulated, {sim.get('quality', 'estimate')} call rates); 90 % of calls reached in {p90}")
        _out(f"residents within reach of some station {k['pop_total'] - k['pop_outside']:,} of {k['pop_total']:,}; "
             f"outside every catchment {k['pop_outside']:,}")
    _out(f"road graph: {_CACHE_WORDS.get(result.graph_cache, result.graph_cache)}")
    for name in ("map.html", "report.html", "results.gpkg", "results.xlsx", "summary.json"):
        path = result.folder / name
        if path.exists():
            _out(f"{name}: {path.resolve()}")


_CACHE_WORDS = {"hit": "from the cache (checked against the road data and settings)",
                "miss": "built from the road data (now cached)"}


@app.command("validate")
def validate_command(scenario: Path = typer.Argument(..., help="Scenario YAML file.")) -> None:
    """Check a scenario file and report every problem with file, line and field."""
    from healthopt.scenario import validate_file

    problems = validate_file(scenario)
    for problem in problems:
        err_console.print(problem.one_line(), highlight=False, soft_wrap=True, markup=False)
    if problems:
        raise typer.Exit(2)
    _out(f"{scenario}: valid")


@app.command("compare")
def compare_command(
    run_a: Path = typer.Argument(..., help="First run folder (left)."),
    run_b: Path = typer.Argument(..., help="Second run folder (right)."),
    out: Path = typer.Option(Path("runs/compare"), "-o", "--out", help="Folder for compare.html and compare.csv."),
) -> None:
    """Explain what changed between two runs, by district, with a side-by-side map."""
    from healthopt.outputs.compare import compare_runs, district_table

    check_environment()
    for folder in (run_a, run_b):
        check_run_folder(folder)
    check_output_folder(out)
    changes = compare_runs(run_a, run_b, out)
    cols, rows = district_table(changes)  # the same table as compare.html's
    table = _table(f"{run_a.name} → {run_b.name}", ["district", *[f"{c} (A → B)" for c in cols]])
    for district, cells in rows:
        table.add_row(district, *cells)
    _out(table)
    _out(f"compare.html: {(out / 'compare.html').resolve()}")
    _out(f"compare.csv: {(out / 'compare.csv').resolve()}")


@app.command("batch")
def batch_command(
    path: Path = typer.Argument(..., help="Folder of scenario files, or a sweep file (see scenarios/sweeps/)."),
    out: Path = typer.Option(Path("runs"), "-o", "--out", help="Parent folder of the batch folder."),
    workers: int = typer.Option(1, "--workers", "-w", help="Local worker processes."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786)."),
    database: str | None = typer.Option(None, "--database", help="Also write results to PostGIS (postgresql://...)."),
) -> None:
    """Run many scenarios (resumable): summary table, trade-off charts and an index of maps."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from healthopt.batch import run_batch
    from healthopt.outputs.batch import write_batch_outputs

    check_environment()
    check_output_folder(out)
    if scheduler is not None:
        check_scheduler(scheduler)
    if database:
        from healthopt.outputs.postgis import check_database

        check_database(database)  # fail before hours of solving, not after
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("scenarios", total=None)

        def notify(event: str, record: dict | None) -> None:
            if record is None:
                return
            if event == "plan":
                bar.update(task, total=record["todo"], description=f"scenarios ({record['skipped']} done before)")
            elif event == "inputs":
                bar.update(task, description=f"shared inputs for {record['members']} scenarios")
            elif event == "done":
                bar.update(task, advance=1, description=f"{record['name']}: {record['status']}")

        result = run_batch(path, out, workers=workers, scheduler=scheduler, notify=notify)
    files = write_batch_outputs(result)
    if database:
        from healthopt.outputs.batch import write_database

        schema = write_database(database, result)
        _out(f"PostGIS: schema {schema}")
    _batch_table(result)
    for key in ("index", "summary_csv", "summary_gpkg", "chart_png", "chart_html"):
        _out(f"{files[key].name}: {files[key]}")
    if any(r.get("status") == "error" for r in result.records):
        raise typer.Exit(1)
    if result.failed:
        raise typer.Exit(3)


def _batch_table(result) -> None:
    table = _table(f"{result.batch.name}: {len(result.records)} scenarios ({len(result.skipped)} finished "
                   "before, skipped)", ["scenario", "status", "fleet", "calls reached (sim.)", "seconds", "note"])
    for record in result.records:
        kpis = (record.get("summary") or {}).get("kpis") or {}
        sim = ((record.get("summary") or {}).get("ambulances") or {}).get("simulated") or {}
        covered = sim.get("reached_share")
        note = "" if record.get("status") == "ok" else str(record.get("message", "")).splitlines()[0][:100]
        table.add_row(escape(record.get("name", "")), record.get("status", "not run"),
                      str(kpis.get("fleet_planned", "")), f"{covered:.1%}" if covered is not None else "",
                      str(record.get("seconds", "")), escape(note))
    _out(table)
    ok = sum(r.get("status") == "ok" for r in result.records)
    _out(f"{ok} planned, {len(result.records) - ok} without a plan")


@app.command("examples")
def examples_command(
    dest: Path | None = typer.Argument(None, help="Copy the shipped scenarios into this folder (default: list them)."),
) -> None:
    """List the shipped scenario files, or copy them into a folder (existing files are never replaced)."""
    from healthopt import examples

    if dest is None:
        for name in examples.list_examples():
            _out_line(f"{name}: {examples.example_path(name)}")
        return
    for path in examples.copy_examples(dest):
        _out_line(str(path))
