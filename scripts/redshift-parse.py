"""Parses every statement of a golden SQL file with sqlglot's `redshift` dialect.

    python scripts/redshift-parse.py tests/golden/redshift.sql

The file holds statements as `-- name` then the SQL, ending in `;` and a blank line (what
tests/it/dialect_golden.rs writes). Each must parse into the statement it is: a parse error,
or sqlglot giving up and keeping the text as an opaque command, fails, naming the statement.
Only statements sqlglot has no grammar for are allowed as commands (LOCK, VACUUM with
Redshift's options, UNLOAD), and only when they match the Developer Guide's syntax for them,
written out below; UNLOAD's query, unescaped, must parse as a SELECT. Exits 1 on any failure, printing one line per failed statement.
"""

import re
import sys

import sqlglot
from sqlglot import exp

# Statements sqlglot keeps as opaque commands however they are written, each with the
# syntax of its Developer Guide page (for the forms martsync writes: one table).
NAME = r'(?:"[a-z_][a-z0-9_]*"|[a-z_][a-z0-9_]*)'
OPAQUE = {
    # "LOCK": LOCK [ TABLE ] table_name [, ...]
    "LOCK ": re.compile(rf"^LOCK (?:TABLE )?{NAME}(?:, {NAME})*$"),
    # "VACUUM": VACUUM [ FULL | SORT ONLY | DELETE ONLY | REINDEX | RECLUSTER ]
    #   [ [ table_name ] [ TO threshold PERCENT ] [ BOOST ] ]
    "VACUUM ": re.compile(
        rf"^VACUUM (?:(?:FULL|SORT ONLY|DELETE ONLY|REINDEX|RECLUSTER) )?{NAME}"
        r"(?: TO (?:100|[1-9]?[0-9]) PERCENT)?(?: BOOST)?$"
    ),
    # "UNLOAD": UNLOAD ('select-statement') TO 's3://object-path/name-prefix'
    #   authorization [ option, ... ]; quotes in the query escaped with a backslash.
    "UNLOAD ": re.compile(
        r"^UNLOAD \('(?P<query>(?:[^'\\]|\\.)*)'\) TO 's3://[^']+' IAM_ROLE 'arn:aws:iam::[0-9]{12}:role/[^']+'"
        r" FORMAT AS PARQUET(?: MAXFILESIZE [0-9]+ (?:MB|GB))?$"
    ),
}


def opaque_ok(sql):
    for start, grammar in OPAQUE.items():
        if sql.upper().startswith(start):
            match = grammar.match(sql)
            if match is None:
                return False
            query = match.groupdict().get("query")
            if query is not None:
                query = re.sub(r"\\(.)", r"\1", query)
                try:
                    parsed = sqlglot.parse_one(query, read="redshift")
                except sqlglot.errors.SqlglotError:
                    return False
                return isinstance(parsed, exp.Select)
            return True
    return False


def statements(text):
    name, lines = None, []
    for line in text.splitlines():
        if line.startswith("-- "):
            name, lines = line[3:], []
        elif line == "" and name is not None and lines:
            yield name, "\n".join(lines).rstrip(";")
            name, lines = None, []
        elif name is not None:
            lines.append(line)
    if name is not None and lines:
        yield name, "\n".join(lines).rstrip(";")


def main(path):
    failed, count = [], 0
    for name, sql in statements(open(path, encoding="utf-8").read()):
        count += 1
        try:
            parsed = sqlglot.parse(sql, read="redshift", error_level=sqlglot.ErrorLevel.RAISE)
        except sqlglot.errors.SqlglotError as e:
            failed.append(f"{name}: {str(e).splitlines()[0]}")
            continue
        if len(parsed) != 1:
            failed.append(f"{name}: {len(parsed)} statements, expected one")
        elif isinstance(parsed[0], exp.Command) and not opaque_ok(sql):
            failed.append(f"{name}: sqlglot could not parse it (kept as a command)")
    for line in failed:
        print(line)
    print(f"{count} statements, {len(failed)} failed (sqlglot {sqlglot.__version__}, redshift)")
    return 1 if failed or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
