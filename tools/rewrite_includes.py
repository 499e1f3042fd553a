#!/usr/bin/env python3
"""Rewrites every include of a twig library header to the form a user writes: "twig/<path>".

    python3 tools/rewrite_includes.py          # rewrite the tracked files in place
    python3 tools/rewrite_includes.py --check  # list what would change; exit 1 if anything would

Why: installed headers live under <prefix>/include/twig/, and only <prefix>/include goes on a
user's include path, so generic folder names (tensor/, nn/) never shadow a user's own headers.
Inside twig a header therefore includes its neighbours as "twig/tensor/tensor.h"; the build tree
resolves that through <build>/include/twig, a link to the source root (see CMakeLists.txt).
One spelling per header, the same in the library, tests, tools and user code, and it does not
break when a file moves (a relative "../tensor/tensor.h" would).

What is rewritten: a quoted include (or __has_include) that resolves, relative to the including file or to the
repository root, to a file inside one of the library folders (LIBRARY_DIRS) or to twig.h.
Includes of test, bench, app and example helpers stay as they are (they are never installed).
Idempotent: "twig/..." includes are left alone, so the lead can re-run it after any merge.
"""
import pathlib
import re
import subprocess
import sys

LIBRARY_DIRS = ("tensor", "autograd", "nn", "prune", "serialize", "ao", "cuda")
LIBRARY_FILES = ("twig.h", "core.h")
SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".inc", ".cu", ".cuh")
# `#include "x"` lines, and `__has_include("x")` in conditions (a stale one would silently turn
# code off instead of failing the build).
INCLUDE = re.compile(r'^(\s*#\s*include\s+)"([^"]+)"', re.MULTILINE)
HAS_INCLUDE = re.compile(r'(__has_include\s*\(\s*)"([^"]+)"')


def is_library_file(rel: pathlib.PurePosixPath) -> bool:
    return rel.as_posix() in LIBRARY_FILES or (len(rel.parts) > 1 and rel.parts[0] in LIBRARY_DIRS)


def rewrite_target(root: pathlib.Path, source: pathlib.Path, name: str):
    """The "twig/..." spelling for `name` included from `source`, or None to leave it."""
    if name.startswith("twig/"):
        return None
    for base in (source.parent, root):
        candidate = (base / name).resolve()
        if candidate.is_file():
            try:
                rel = pathlib.PurePosixPath(candidate.relative_to(root).as_posix())
            except ValueError:
                return None  # outside the repository
            return "twig/" + rel.as_posix() if is_library_file(rel) else None
    return None  # found through some other include directory (tests/, examples/): not ours


def main() -> int:
    check = "--check" in sys.argv[1:]
    root = pathlib.Path(__file__).resolve().parent.parent
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], check=True,
                            capture_output=True).stdout.decode().split("\0")
    changed = []
    for name in listed:
        if not name.endswith(SUFFIXES):
            continue
        path = root / name
        if not path.is_file():
            continue  # deleted in the work tree
        text = path.read_text()

        def replace(match):
            target = rewrite_target(root, path.resolve(), match.group(2))
            return match.group(0) if target is None else f'{match.group(1)}"{target}"'

        new_text = HAS_INCLUDE.sub(replace, INCLUDE.sub(replace, text))
        if new_text != text:
            changed.append(name)
            if not check:
                path.write_text(new_text)
    for name in changed:
        print(("would rewrite " if check else "rewrote ") + name)
    if check and changed:
        print(f"{len(changed)} file(s) include twig headers without the twig/ prefix; "
              "run python3 tools/rewrite_includes.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
