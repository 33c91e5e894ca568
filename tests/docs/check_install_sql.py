"""sql/install.sql carries a copy of sql/sync.sql (the client's `source` is
relative to its working directory, so `mariadb < sql/install.sql` could not
include it from anywhere), between two marker lines; this checks the copy.

    check_install_sql.py ROOT           # exit 1 and a diff if they differ
    check_install_sql.py ROOT --write   # rewrite the copy (or append it)"""
import difflib
import os
import sys

BEGIN = ("-- ---- begin of sql/sync.sql: a copy, written by "
         "tests/docs/check_install_sql.py --write; edit sql/sync.sql ----\n")
END = "-- ---- end of sql/sync.sql ----\n"


def main():
    root = sys.argv[1]
    install = os.path.join(root, "sql", "install.sql")
    sync = open(os.path.join(root, "sql", "sync.sql"), encoding="utf-8").read()
    text = open(install, encoding="utf-8").read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        current, tail = rest.split(END, 1)
    else:
        head, current, tail = text.rstrip("\n") + "\n\n", None, ""
    if "--write" in sys.argv[2:]:
        with open(install, "w", encoding="utf-8") as f:
            f.write(head + BEGIN + sync + END + tail)
        return 0
    if current == sync:
        print("sql/install.sql holds the current sql/sync.sql")
        return 0
    if current is None:
        print("sql/install.sql: no copy of sql/sync.sql between its markers")
    else:
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(True), sync.splitlines(True),
            "sql/install.sql", "sql/sync.sql"))
    print("run: python3 tests/docs/check_install_sql.py . --write")
    return 1


if __name__ == "__main__":
    sys.exit(main())
