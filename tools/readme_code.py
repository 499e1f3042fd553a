#!/usr/bin/env python3
"""Keeps README.md's C++ code identical to the example programs that ctest compiles and runs.

    python3 tools/readme_code.py            # check (ctest ReadmeCode.blocks_match_examples runs this)
    python3 tools/readme_code.py --update   # copy the example files into README's blocks

Each ```cpp block in README.md must be introduced by a line (among the 3 non-empty lines above it)
that names its file as `examples/<name>.cpp`; the block must equal that file byte for byte, and
every examples/readme_*.cpp must be shown in README. So README cannot show code that does not
compile or that does something else than what ctest checked.
"""
import pathlib
import re
import sys

FENCE = re.compile(r"^```cpp\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NAMED = re.compile(r"`(examples/[A-Za-z0-9_]+\.cpp)`")


def main() -> int:
    update = "--update" in sys.argv[1:]
    root = pathlib.Path(__file__).resolve().parent.parent
    readme_path = root / "README.md"
    readme = readme_path.read_text()
    problems = []
    shown = set()
    pieces = []
    last = 0
    for match in FENCE.finditer(readme):
        before = [line for line in readme[: match.start()].splitlines() if line.strip()][-3:]
        names = [n for line in before for n in NAMED.findall(line)]
        line_no = readme.count("\n", 0, match.start()) + 1
        if not names:
            problems.append(f"README.md:{line_no}: a cpp block whose introduction names no examples/*.cpp file")
            continue
        name = names[-1]
        shown.add(name)
        path = root / name
        if not path.is_file():
            problems.append(f"README.md:{line_no}: {name} does not exist")
            continue
        code = path.read_text()
        if match.group(1) != code:
            if update:
                pieces.append(readme[last : match.start(1)])
                pieces.append(code)
                last = match.end(1)
            else:
                problems.append(f"README.md:{line_no}: the block differs from {name} "
                                "(python3 tools/readme_code.py --update copies the file in)")
    for path in sorted((root / "examples").glob("readme_*.cpp")):
        name = path.relative_to(root).as_posix()
        if name not in shown:
            problems.append(f"{name} is not shown in README.md")
    if update and pieces:
        pieces.append(readme[last:])
        readme_path.write_text("".join(pieces))
        print("README.md updated")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
