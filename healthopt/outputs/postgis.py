"""PostGIS output of a batch: its summary and every scenario's result layers in one schema.

A batch goes into its own schema (:func:`schema_name` derives it from the batch name):

``batch_summary``
    One row per scenario (the batch summary frame as given).
``<layer>`` (``districts``, ``stations``, ``health_centres``, ``beds``, ...)
    One table per result layer holding the features of *all* scenarios, told apart by a
    ``scenario`` column, so QGIS users can filter one table instead of opening ten.
``runs``
    One row: batch name, creation time, healthopt version, scenarios and tables written.

Every table has an integer primary key ``fid`` (numbered in scenario order, so the same batch
gives the same keys) and, where it has geometries, a ``geom`` column in EPSG:4326 with a GiST
index. Writing the same schema again replaces its tables in one transaction: a failure
leaves the previous contents as they were. Rows go in with ``COPY`` through psycopg 3
(``pip install 'healthopt[postgis]'``); passwords never appear in error messages.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthopt import __version__
from healthopt.errors import InputError
from healthopt.outputs.tables import LAYERS, plain_columns

#: Spatial reference of every ``geom`` column.
SRID = 4326
SUMMARY_TABLE = "batch_summary"
RUNS_TABLE = "runs"
#: Columns the writer adds itself; a layer may not bring its own.
RESERVED_COLUMNS = ("fid", "scenario", "geom")
#: PostgreSQL truncates identifiers longer than this many bytes.
MAX_IDENTIFIER = 63
#: Longest layer name (its index names ``<layer>_scenario_idx`` must fit in 63 bytes too).
MAX_LAYER_NAME = 48
#: How long a write waits for a lock held by a reader (e.g. an open QGIS query) before failing.
LOCK_TIMEOUT = "60s"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_SCHEMES = ("postgresql", "postgres")
_SAFE_QUERY = {"sslmode", "connect_timeout", "application_name", "options", "target_session_attrs"}
_INT_TYPES = {1: "smallint", 2: "smallint", 4: "integer", 8: "bigint"}
_UINT_TYPES = {1: "smallint", 2: "integer", 4: "bigint", 8: "numeric(20)"}


# --- names and URLs --------------------------------------------------------------------------


def schema_name(batch_name: str) -> str:
    """Return a safe PostgreSQL schema name for a batch.

    Lowercase ASCII letters, digits and ``_``; other characters become ``_``. A name that
    starts with a digit gets a ``b_`` prefix, one reserved by PostgreSQL (``pg_*``) an ``hb_``
    prefix, and a name with nothing usable left (e.g. all Chinese) becomes ``batch_<hash>``.

    Examples
    --------
    >>> schema_name("Taiyuan 2025 / peak-traffic")
    'taiyuan_2025_peak_traffic'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", batch_name.strip().lower()).strip("_")
    if not re.search(r"[a-z0-9]", slug):
        return "batch_" + hashlib.sha1(batch_name.encode("utf-8")).hexdigest()[:10]
    if slug[0].isdigit():
        slug = "b_" + slug
    if slug.startswith("pg_"):
        slug = "hb_" + slug
    return slug[:MAX_IDENTIFIER].rstrip("_")


def _check_identifier(name: str, what: str, where: str, longest: int = MAX_IDENTIFIER) -> str:
    if not _IDENTIFIER.match(name) or len(name) > longest or name.startswith("pg_"):
        raise InputError(where, what, f"{name!r} is not a safe PostgreSQL name (a-z, 0-9, _; at most {longest}; "
                         "not pg_*)")  # fmt: skip
    return name


def redact_url(url: str) -> str:
    """Return ``url`` without its password (for messages): ``postgresql://user@host:port/db``.

    A URL that cannot be taken apart safely is shown as ``postgresql://<unreadable URL>``
    rather than risk printing part of a password.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname or ""
    except ValueError:
        return "postgresql://<unreadable URL>"
    if "@" in parts.path or "@" in parts.query:
        return "postgresql://<unreadable URL>"
    user = f"{unquote(parts.username)}@" if parts.username else ""
    netloc = f"{user}{host}" + (f":{port}" if port else "")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k in _SAFE_QUERY])
    scheme = parts.scheme.split("+")[0] or "postgresql"
    return f"{scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _conninfo(url: str) -> str:
    """Return the libpq URL for ``url`` (drops a SQLAlchemy ``+driver``), or raise InputError."""
    safe = redact_url(url)
    scheme = url.strip().split("://", 1)[0] if "://" in url else ""
    if scheme.split("+")[0] not in _SCHEMES:
        raise InputError(safe, "database", "the database URL must start with postgresql://user:password@host:port/db")
    if "<unreadable URL>" in safe:
        raise InputError(safe, "database", "the database URL cannot be read (percent-encode @ / : in the password)")
    return "postgresql" + url.strip()[len(scheme) :]


def _password(url: str) -> str | None:
    try:
        secret = urlsplit(url.strip()).password
    except ValueError:
        return None
    query = dict(parse_qsl(urlsplit(url.strip()).query))
    return unquote(secret) if secret else query.get("password")


def _reason(exc: BaseException, url: str) -> str:
    """One line from a driver error, with the password (if any) blanked out."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = "; ".join(lines) or type(exc).__name__
    secret = _password(url)
    return text.replace(secret, "***") if secret else text


# --- connection checks -----------------------------------------------------------------------


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise InputError(None, "database", "PostGIS output needs psycopg: pip install 'healthopt[postgis]'") from exc
    return psycopg


def _connect(url: str, timeout: float) -> Any:
    psycopg = _psycopg()
    conninfo, safe = _conninfo(url), redact_url(url)
    try:
        return psycopg.connect(conninfo, connect_timeout=max(1, round(timeout)), application_name="healthopt")
    except (psycopg.Error, ValueError) as exc:
        raise InputError(safe, "database", f"cannot connect: {_reason(exc, url)}") from exc


def _postgis_schema(conn: Any) -> tuple[str, str] | None:
    row = conn.execute(
        "SELECT e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'postgis'"
    ).fetchone()
    return (row[0], row[1]) if row else None


def _ensure_postgis(conn: Any, url: str) -> tuple[str, str]:
    """Return PostGIS ``(version, schema)``, creating the extension if it is missing."""
    psycopg = _psycopg()
    found = _postgis_schema(conn)
    if found:
        return found
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise InputError(redact_url(url), "database", "PostGIS is not enabled in this database and this user may not "
                         "enable it: ask its administrator to run CREATE EXTENSION postgis") from exc  # fmt: skip
    except psycopg.Error as exc:
        raise InputError(redact_url(url), "database", f"PostGIS is not available on this server: "
                         f"{_reason(exc, url)}") from exc  # fmt: skip
    found = _postgis_schema(conn)
    assert found is not None
    return found


def _check_create(conn: Any, url: str) -> None:
    allowed = conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()[0]
    if not allowed:
        raise InputError(redact_url(url), "database", "this user may not create schemas in this database "
                         "(GRANT CREATE ON DATABASE ... TO ...)")  # fmt: skip


def check_database(url: str, *, timeout: float = 10.0) -> str:
    """Check early that results can be written to ``url``; return the PostGIS version.

    Connects, enables PostGIS if it is missing (``CREATE EXTENSION IF NOT EXISTS postgis``)
    and checks that the user may create schemas.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/dbname`` (``postgres://`` and SQLAlchemy's
        ``postgresql+psycopg://`` are accepted too).
    timeout : float
        Seconds to wait for the server.

    Raises
    ------
    InputError
        With the URL minus its password as source, ``"database"`` as field and a one-line
        reason: unreadable URL, no connection, PostGIS missing or not allowed, no CREATE right.
    """
    with _connect(url, timeout) as conn:
        conn.autocommit = True
        version, _ = _ensure_postgis(conn, url)
        _check_create(conn, url)
    return version


# --- frames to tables ------------------------------------------------------------------------


@dataclass
class _Table:
    """A table ready to be written: column definitions, rows, and its geometry type if any."""

    name: str
    columns: list[tuple[str, str]]
    rows: list[tuple]
    geometry: str | None = None
    comment: str = ""
    indexes: list[str] = field(default_factory=list)


def _typed_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Give object columns that hold only booleans or numbers (and missing values) a real dtype."""
    out = frame.copy()
    nullable = {"boolean": "boolean", "integer": "Int64", "floating": "Float64", "mixed-integer-float": "Float64"}
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).where(s.notna(), None)
        elif s.dtype == object:
            s = s.where(s.notna(), None)  # NaN from concatenating scenarios is NULL, not "nan"
            kind = pd.api.types.infer_dtype(s, skipna=True)
            out[col] = s.astype(nullable[kind]) if kind in nullable else s
    return out


def _sql_type(s: pd.Series, where: str) -> str:
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        kind = _UINT_TYPES if pd.api.types.is_unsigned_integer_dtype(dtype) else _INT_TYPES
        return kind[np.dtype(dtype.numpy_dtype if hasattr(dtype, "numpy_dtype") else dtype).itemsize]
    if pd.api.types.is_float_dtype(dtype):
        return "real" if np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize == 4 else "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamp with time zone"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp without time zone"
    if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype):
        return "text"
    raise InputError(where, str(s.name), f"column type {dtype} cannot be written to PostGIS")


def _values(s: pd.Series, sql_type: str) -> list:
    """Column values as plain Python objects, missing values (NaN, NA, NaT) as ``None``."""
    missing = s.isna().to_numpy()
    if sql_type.startswith("timestamp"):
        values = [None if pd.isna(v) else v.to_pydatetime() for v in s]
    elif sql_type == "boolean":
        values = [bool(v) for v in s.fillna(False)]
    elif sql_type in ("smallint", "integer", "bigint", "numeric(20)"):
        values = [int(v) for v in s.fillna(0)]
    elif sql_type in ("real", "double precision"):
        values = [float(v) for v in s.fillna(0.0)]
    else:
        values = s.tolist()
    return [None if m else v for v, m in zip(values, missing, strict=True)]


_PROMOTE = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}


def _geometry(geoms: np.ndarray) -> tuple[str, list[str | None]]:
    """Return the PostGIS geometry type and EWKB hex (SRID 4326) of shapely ``geoms``.

    2D only; empty geometries become NULL; a layer mixing ``X`` and ``MultiX`` is written as
    ``MultiX`` so QGIS sees one geometry type.
    """
    geoms = np.array(geoms, dtype=object)  # a copy: missing/empty entries are set to None below
    geoms[shapely.is_missing(geoms) | shapely.is_empty(geoms)] = None
    geoms = shapely.force_2d(geoms)
    kinds = {g.geom_type for g in geoms if g is not None}
    multi = {_PROMOTE.get(k, k) for k in kinds}
    if len(kinds) == 2 and len(multi) == 1:
        target = next(iter(multi))
        single = next(k for k in kinds if k != target)
        geoms = np.array([_multi(g, target) if g is not None and g.geom_type == single else g for g in geoms])
        kinds = multi
    kind = next(iter(kinds)) if len(kinds) == 1 else "Geometry"
    ewkb = shapely.to_wkb(shapely.set_srid(geoms, SRID), hex=True, include_srid=True)
    return kind, [None if g is None else str(g) for g in ewkb]


def _multi(geom: shapely.Geometry, target: str) -> shapely.Geometry:
    return getattr(shapely.geometry, target)([geom])


def _column_names(frame: pd.DataFrame, where: str, reserved: Iterable[str]) -> None:
    names = [str(c) for c in frame.columns]
    for name in names:
        if name in reserved:
            raise InputError(where, name, f"column name {name!r} is reserved ({', '.join(reserved)})")
        if len(name.encode("utf-8")) > MAX_IDENTIFIER or not name:
            raise InputError(where, name, "column name is empty or longer than 63 bytes")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(where, dupes[0], "column name appears twice")


def _table(name: str, attrs: pd.DataFrame, geoms: np.ndarray | None, where: str, comment: str) -> _Table:
    attrs = plain_columns(_typed_objects(attrs), bool_as_int=False)
    attrs.columns = [str(c) for c in attrs.columns]
    types = [(c, _sql_type(attrs[c], where)) for c in attrs.columns]
    columns = [("fid", "bigint PRIMARY KEY"), *types]
    data = [range(1, len(attrs) + 1), *(_values(attrs[c], t) for c, t in types)]
    kind = None
    if geoms is not None:
        kind, ewkb = _geometry(geoms)
        columns.append(("geom", f"geometry({kind}, {SRID})"))
        data.append(ewkb)
    return _Table(name, columns, list(zip(*data, strict=True)), kind, comment)


def _in_4326(frame: gpd.GeoDataFrame, where: str) -> np.ndarray:
    if frame.crs is None:
        raise InputError(where, frame.geometry.name, "layer has no CRS; expected EPSG:4326")
    series = frame.geometry if frame.crs.to_epsg() == SRID else frame.geometry.to_crs(SRID)
    return np.asarray(series.array, dtype=object)


def _layer_table(layer: str, frames: Mapping[str, gpd.GeoDataFrame], schema: str) -> _Table:
    where = f"{schema}.{layer}"
    parts, geoms = [], []
    for scenario, frame in frames.items():
        attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        _column_names(attrs, where, RESERVED_COLUMNS)
        parts.append(attrs.reset_index(drop=True).assign(scenario=scenario))
        geoms.append(_in_4326(frame, where))
    attrs = pd.concat(parts, ignore_index=True)
    attrs = attrs[["scenario", *[c for c in attrs.columns if c != "scenario"]]]
    table = _table(layer, attrs, np.concatenate(geoms), where, f"healthopt {layer}: all scenarios of the batch")
    table.indexes.append("scenario")
    return table


def _summary_table(summary: pd.DataFrame, schema: str) -> _Table:
    where = f"{schema}.{SUMMARY_TABLE}"
    geoms = None
    attrs = pd.DataFrame(summary).reset_index(drop=True)
    if isinstance(summary, gpd.GeoDataFrame) and summary.geometry.name in summary.columns:
        geoms = _in_4326(summary.reset_index(drop=True), where)
        attrs = pd.DataFrame(attrs.drop(columns=summary.geometry.name))
    _column_names(attrs, where, ("fid", "geom"))
    return _table(SUMMARY_TABLE, attrs, geoms, where, "healthopt batch summary: one row per scenario")


def _runs_table(batch_name: str, created: datetime, scenarios: list[str], tables: list[str]) -> _Table:
    columns = [("fid", "bigint PRIMARY KEY"), ("batch_name", "text"), ("created", "timestamp with time zone"),
               ("healthopt_version", "text"), ("scenarios", "text[]"), ("tables", "text[]")]  # fmt: skip
    row = (1, batch_name, created, __version__, scenarios, tables)
    return _Table(RUNS_TABLE, columns, [row], None, "healthopt batch run that wrote this schema")


def _tables(schema: str, summary: pd.DataFrame, scenario_layers: Mapping[str, Mapping[str, gpd.GeoDataFrame]],
            batch_name: str, created: datetime) -> list[_Table]:  # fmt: skip
    names = [*LAYERS, *sorted({n for layers in scenario_layers.values() for n in layers} - set(LAYERS))]
    tables = [_summary_table(summary, schema)]
    for layer in names:
        frames = {s: ls[layer] for s, ls in scenario_layers.items() if ls.get(layer) is not None and len(ls[layer])}
        if frames:
            _check_identifier(layer, "layer", schema, MAX_LAYER_NAME)
            if layer in (SUMMARY_TABLE, RUNS_TABLE):
                raise InputError(schema, "layer", f"layer name {layer!r} is used by the batch tables")
            tables.append(_layer_table(layer, frames, schema))
    written = [t.name for t in tables] + [RUNS_TABLE]
    tables.append(_runs_table(batch_name, created, list(scenario_layers), written))
    return tables


# --- SQL ------------------------------------------------------------------------------------


def _previous_tables(conn: Any, schema: str) -> list[str]:
    sql = _psycopg().sql
    exists = conn.execute("SELECT to_regclass(%s)", [f'"{schema}"."{RUNS_TABLE}"']).fetchone()[0]
    if exists is None:
        return []
    query = sql.SQL("SELECT tables FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(RUNS_TABLE))
    try:
        with conn.transaction():
            rows = conn.execute(query).fetchall()
    except _psycopg().Error:  # a runs table of another shape: only the known names are dropped
        return []
    return sorted({name for (names,) in rows for name in names or ()})


def _statements(schema: str, table: _Table) -> Iterator[Any]:
    sql = _psycopg().sql
    qualified = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table.name))
    cols = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in table.columns)
    yield sql.SQL("CREATE TABLE {} ({})").format(qualified, cols)
    if table.geometry:
        yield sql.SQL("CREATE INDEX {} ON {} USING GIST (geom)").format(sql.Identifier(f"{table.name}_geom_gist"),
                                                                       qualified)  # fmt: skip
    for col in table.indexes:
        yield sql.SQL("CREATE INDEX {} ON {} ({})").format(sql.Identifier(f"{table.name}_{col}_idx"), qualified,
                                                           sql.Identifier(col))  # fmt: skip
    yield sql.SQL("COMMENT ON TABLE {} IS {}").format(qualified, sql.Literal(table.comment))


def _copy(conn: Any, schema: str, table: _Table) -> None:
    sql = _psycopg().sql
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in table.columns)
    query = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(sql.Identifier(schema), sql.Identifier(table.name), names)
    with conn.cursor() as cur, cur.copy(query) as copy:
        for row in table.rows:
            copy.write_row(row)


def _replace(conn: Any, schema: str, tables: list[_Table], postgis_schema: str) -> None:
    sql = _psycopg().sql
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"healthopt:{schema}"])
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("SET LOCAL search_path TO {}, {}").format(sql.Identifier(schema),
                                                                   sql.Identifier(postgis_schema)))  # fmt: skip
    stale = {*LAYERS, SUMMARY_TABLE, RUNS_TABLE, *_previous_tables(conn, schema)}
    for name in sorted(stale | {t.name for t in tables}):
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
    for table in tables:
        for statement in _statements(schema, table):
            conn.execute(statement)
        _copy(conn, schema, table)
        conn.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table.name)))


def write_batch(
    url: str,
    schema: str,
    summary: pd.DataFrame,
    scenario_layers: Mapping[str, Mapping[str, gpd.GeoDataFrame]],
    *,
    batch_name: str | None = None,
    created: datetime | None = None,
    timeout: float = 10.0,
) -> dict[str, int]:
    """Write a batch's summary and result layers to schema ``schema`` of a PostGIS database.

    All tables of the schema that a previous write made are replaced in one transaction:
    on any error nothing changes.

    Parameters
    ----------
    url : str
        ``postgresql://user:password@host:port/dbname`` (see :func:`check_database`).
    schema : str
        Target schema, a safe lowercase name (use :func:`schema_name` on the batch name).
        Created if missing.
    summary : pandas.DataFrame or geopandas.GeoDataFrame
        One row per scenario; written as ``batch_summary`` (with ``geom`` if it has geometries).
    scenario_layers : mapping of str to mapping of str to geopandas.GeoDataFrame
        ``{scenario name: {layer name: layer}}``, e.g. each scenario's ``results.gpkg`` layers.
        Layers with a CRS (EPSG:4326 expected; others are reprojected). Each layer name becomes
        one table with a ``scenario`` column; empty layers are skipped as in ``results.gpkg``.
    batch_name : str, optional
        Recorded in ``runs`` (default: ``schema``).
    created : datetime, optional
        Creation time recorded in ``runs`` (default: now, UTC); naive times are taken as UTC.
    timeout : float
        Seconds to wait for the server when connecting.

    Returns
    -------
    dict of str to int
        Rows written per table, in writing order.

    Raises
    ------
    InputError
        Bad schema, layer or column names, a column type PostgreSQL cannot hold, a layer
        without CRS, or any database problem (one line, password removed).
    """
    _check_identifier(schema, "schema", redact_url(url))
    created = created or datetime.now(UTC)
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    tables = _tables(schema, summary, scenario_layers, batch_name or schema, created)
    psycopg = _psycopg()
    with _connect(url, timeout) as conn:
        conn.autocommit = True
        _, postgis_schema = _ensure_postgis(conn, url)
        try:
            with conn.transaction():
                _replace(conn, schema, tables, postgis_schema)
        except psycopg.Error as exc:
            raise InputError(redact_url(url), "database", f"writing schema {schema} failed, previous contents "
                             f"kept: {_reason(exc, url)}") from exc  # fmt: skip
    return {t.name: len(t.rows) for t in tables}
