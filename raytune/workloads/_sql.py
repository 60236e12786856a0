"""SQL handling: reading query files, checking syntax and translating between dialects (sqlglot)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

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
    if target == "mysql":
        tree = tree.transform(_inline_derived_column_aliases)
    return tree.sql(dialect=target, unsupported_level=sqlglot.ErrorLevel.IGNORE)


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


def check_sql(sql: str, dialect: str, where: str) -> None:
    """Raises a one-line ``WorkloadError`` naming ``where`` if ``sql`` does not parse."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise WorkloadError(f"malformed SQL in {where}: {_first_error(exc)}; fix the query") from None
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
    queries: list[Query] = []
    if path.suffix == ".wg":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                where = f"{path.name} line {lineno}"
                check_sql(line, dialect, where)
                queries.append(Query(f"{path.stem}:{lineno}", line.strip().rstrip(";"), dialect))
    else:
        for index, statement in enumerate(_split_statements(text), start=1):
            where = f"{path.name} statement {index}"
            check_sql(statement, dialect, where)
            queries.append(Query(f"{path.stem}:{index}", statement, dialect))
    if not queries:
        raise WorkloadError(f"query file {path} holds no queries; add SQL statements separated by ';'")
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
