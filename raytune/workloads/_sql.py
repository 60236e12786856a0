"""SQL handling: reading query files, checking syntax and translating between dialects (sqlglot)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from raytune.errors import WorkloadError


@dataclass(frozen=True)
class Query:
    """One query of a workload, in the dialect it was written in.

    Attributes:
        name: Stable identifier (``q01``, or ``<file>:<line>``).
        sql: The text.
        dialect: The sqlglot dialect of ``sql``.
    """

    name: str
    sql: str
    dialect: str = "postgres"

    def translated(self, target: str) -> str:
        """The query in the ``target`` sqlglot dialect."""
        return translate(self.sql, self.dialect, target)


def translate(sql: str, source: str, target: str) -> str:
    """Translates one statement from ``source`` to ``target`` dialect (identity when they match)."""
    if source == target:
        return sql.strip().rstrip(";")
    try:
        tree = sqlglot.parse_one(sql, read=source)
    except ParseError as exc:
        raise WorkloadError(f"cannot translate query to {target}: {_first_error(exc)}") from None
    # Unquoted identifiers are case-insensitive in the source but MariaDB's table aliases are not: fold them.
    tree = normalize_identifiers(tree, dialect=source)
    for rewrite in _REWRITES.get(target, ()):
        tree = tree.transform(rewrite)
    # Quote every identifier for MariaDB, where TPC-DS aliases can collide with keywords.
    return tree.sql(dialect=target, identify=target == "mysql", unsupported_level=sqlglot.ErrorLevel.IGNORE)


def _star_first(node: exp.Expression) -> exp.Expression:
    """``SELECT f(x) AS a, * FROM t`` -> ``SELECT *, f(x) AS a FROM t`` (MySQL allows a bare ``*`` only first)."""
    if not isinstance(node, exp.Select):
        return node
    cols = node.expressions
    stars = [c for c in cols if isinstance(c, exp.Star)]
    if not stars or isinstance(cols[0], exp.Star):
        return node
    node = node.copy()
    node.set("expressions", stars + [c for c in node.expressions if not isinstance(c, exp.Star)])
    return node


def _with_rollup(node: exp.Expression) -> exp.Expression:
    """``GROUP BY ROLLUP(a, b)`` -> ``GROUP BY a, b WITH ROLLUP``; with an ORDER BY / LIMIT, the grouped query
    moves into a derived table, since MariaDB refuses ORDER BY beside ROLLUP."""
    if not isinstance(node, exp.Select):
        return node
    group = node.args.get("group")
    if group is None:
        return node
    parts = list(group.expressions) + list(group.args.get("rollup") or [])
    rollups = [p for p in parts if isinstance(p, exp.Rollup) and p.expressions]
    if len(rollups) != 1:
        return node
    node = node.copy()
    plain = [p for p in node.args["group"].expressions if not isinstance(p, exp.Rollup)]
    node.set("group", exp.Group(expressions=plain + list(rollups[0].expressions), rollup=[exp.Rollup()]))
    order, limit = node.args.get("order"), node.args.get("limit")
    if order is None and limit is None:
        return node
    node.set("order", None)
    node.set("limit", None)
    outer = exp.select("*").from_(
        exp.Subquery(this=node, alias=exp.TableAlias(this=exp.to_identifier("rollup_q")))
    )
    if order is not None:
        outer.set("order", order)
    if limit is not None:
        outer.set("limit", limit)
    return outer


def _round_numeric(node: exp.Expression) -> exp.Expression:
    """PostgreSQL has ``round(numeric, int)`` only: cast the first argument of a two-argument ROUND."""
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        node = node.copy()
        node.set("this", exp.cast(node.this, "DECIMAL"))
    return node


def _inline_derived_column_aliases(node: exp.Expression) -> exp.Expression:
    """``(SELECT a, COUNT(b) ...) AS t(x, y)`` -> ``(SELECT a AS x, COUNT(b) AS y ...) AS t``.

    MariaDB (before 11.7) has no column-alias list on derived tables; TPC-H Q13 uses one.
    """
    if not isinstance(node, exp.Subquery):
        return node
    alias = node.args.get("alias")
    select = node.this
    if not isinstance(alias, exp.TableAlias) or not alias.columns or not isinstance(select, exp.Select):
        return node
    names = [c.name for c in alias.columns]
    if len(names) != len(select.expressions):
        return node
    select = select.copy()
    select.set(
        "expressions", [exp.alias_(e.unalias(), n) for e, n in zip(select.expressions, names, strict=True)]
    )
    return exp.Subquery(this=select, alias=exp.TableAlias(this=alias.this.copy()))


_REWRITES = {
    "mysql": (_inline_derived_column_aliases, _star_first, _with_rollup),
    "postgres": (_round_numeric,),
}


def check_sql(sql: str, dialect: str, where: str) -> None:
    """Raises a one-line ``WorkloadError`` naming ``where`` if ``sql`` does not parse."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise WorkloadError(f"malformed SQL in {where}: {_first_error(exc)}; fix the query") from None
    except SqlglotError as exc:  # the tokenizer's errors (an unterminated string, for instance)
        raise WorkloadError(f"malformed SQL in {where}: {str(exc).splitlines()[0]}; fix the query") from None
    except RecursionError:
        raise WorkloadError(f"SQL in {where} is nested too deeply to parse; simplify the query") from None
    if not statements:
        raise WorkloadError(f"empty query in {where}; remove the blank entry")


def _first_error(exc: ParseError) -> str:
    if exc.errors:
        err = exc.errors[0]
        description = re.sub(
            r"<Token [^>]*?text: ([^,]*),[^>]*>", r"'\1'", str(err.get("description", "syntax error"))
        )
        return f"{description} at line {err.get('line')}, column {err.get('col')}"
    return str(exc).splitlines()[0]


def read_query_file(path: Path, dialect: str = "postgres") -> list[Query]:
    """Reads a query file: ``.wg`` (E2ETune: one query per line) or SQL statements separated by ``;``.

    Raises:
        WorkloadError: Missing file, no queries, or a statement that does not parse (with its position).
    """
    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"query file {path} does not exist; pass an existing .sql or .wg file")
    text = path.read_text()
    if not text.strip():
        raise WorkloadError(f"query file {path} holds no queries; add SQL statements separated by ';'")
    if path.suffix == ".wg":
        lines = [line for line in text.splitlines() if line.strip()]
        return parse_queries(lines, dialect, path.stem, where=f"{path.name} line")
    return parse_queries(text, dialect, path.stem, where=f"{path.name} statement")


def parse_queries(
    sql: str | Sequence[str], dialect: str = "postgres", name: str = "workload", *, where: str = ""
) -> list[Query]:
    """Queries from SQL text (statements separated by ``;``) or a list of statements, each checked to parse
    (never executed).

    Raises:
        WorkloadError: No queries, or a statement that does not parse (with its position in ``name``).
    """
    statements = _split_statements(sql) if isinstance(sql, str) else [str(q).strip().rstrip(";") for q in sql]
    queries: list[Query] = []
    for index, statement in enumerate(statements, start=1):
        check_sql(statement, dialect, f"{where or name + ' query'} {index}")
        queries.append(Query(f"{name}:{index}", statement.strip().rstrip(";"), dialect))
    if not queries:
        raise WorkloadError(f"{name} holds no queries; give SQL statements separated by ';'")
    return queries


def _split_statements(text: str) -> list[str]:
    """Splits on ``;`` outside quotes and comments (sqlglot's tokenizer knows where those are)."""
    from sqlglot.tokens import Tokenizer, TokenType

    try:
        tokens = Tokenizer().tokenize(text)
    except Exception as exc:  # noqa: BLE001 - tokenizer errors carry positions in their text
        raise WorkloadError(f"malformed SQL: {str(exc).splitlines()[0]}; fix the query file") from None
    statements: list[str] = []
    start, first = 0, None  # ``first``: start of the first real token of the current statement
    for tok in tokens:
        if tok.token_type == TokenType.SEMICOLON:
            if first is not None:
                statements.append(text[start : tok.start].strip())
            start, first = tok.end + 1, None
        elif first is None:
            first = tok.start
    if first is not None:
        statements.append(text[start:].strip())
    return statements
