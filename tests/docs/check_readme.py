"""The README's configuration table must be what udf/settings.def says.

    check_readme.py SETTINGS_DOC README.md          # exit 1 and a diff if not
    check_readme.py SETTINGS_DOC README.md --write  # rewrite the table
The table sits between <!-- settings:begin --> and <!-- settings:end -->."""
import difflib
import subprocess
import sys

BEGIN, END = "<!-- settings:begin -->\n", "<!-- settings:end -->\n"


def main():
    tool, readme = sys.argv[1], sys.argv[2]
    table = subprocess.run([tool], check=True, capture_output=True,
                           text=True).stdout
    text = open(readme, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        print("%s: no %s ... %s markers" % (readme, BEGIN.strip(), END.strip()))
        return 1
    head, rest = text.split(BEGIN, 1)
    current, tail = rest.split(END, 1)
    if "--write" in sys.argv[3:]:
        with open(readme, "w", encoding="utf-8") as f:
            f.write(head + BEGIN + table + END + tail)
        return 0
    if current == table:
        print("README configuration table matches udf/settings.def "
              "(%d settings)" % (table.count("\n") - 3))
        return 0
    sys.stdout.writelines(difflib.unified_diff(
        current.splitlines(True), table.splitlines(True),
        "README.md", "udf/settings.def"))
    print("the README's configuration table differs from udf/settings.def; "
          "run: python3 tests/docs/check_readme.py build/settings_doc "
          "README.md --write")
    return 1


if __name__ == "__main__":
    sys.exit(main())
