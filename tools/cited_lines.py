"""Write tests/fixtures/cited_lines.json: the text of every line that a table's `code:` source cites, read
from the cited repository at the cited commit.

    python tools/cited_lines.py --git-dir 'MIRRORS/{owner}+{name}.git' [--out PATH]

`--git-dir` is a template for each cited repository's git directory, a bare mirror
(`git clone --mirror https://github.com/{owner}/{name} MIRRORS/{owner}+{name}.git`) or a clone's .git;
the cited commit must be in it (`git show <commit>:<path>`). Run it after adding or changing a code citation in experiments/:
tests/test_citations.py checks that the fixture holds exactly the cited lines, and that every citation's
snippet is words of them, so the check runs offline, against text taken from the real files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tables import protocol  # noqa: E402
from bench.tables.params import load_all, load_params  # noqa: E402

FIXTURE = ROOT / "tests/fixtures/cited_lines.json"


def citations(tables) -> list[protocol.Citation]:
    """Every code citation of every table's sources."""
    out = []
    for t in tables.values():
        for found in t.sources.values():
            for text in (found.values() if isinstance(found, dict) else [found]):
                out += [c for c in map(protocol.citation, protocol.parts(text)) if c is not None]
    return out


def cited_lines(cited: list[protocol.Citation], git_dir: str) -> dict[str, dict[str, str]]:
    """{'<repo> <path>@<commit>': {'<line>': text}} for every cited line."""
    wanted: dict[str, set[int]] = {}
    for c in cited:
        wanted.setdefault(c.file, set()).update(range(c.first, c.last + 1))
    out = {}
    for file, numbers in sorted(wanted.items()):
        repo, rest = file.split(" ", 1)
        path, commit = rest.rsplit("@", 1)
        owner, name = repo.split("/")
        where = git_dir.format(owner=owner, name=name)
        got = subprocess.run(["git", "--git-dir", where, "show", f"{commit}:{path}"], capture_output=True)
        if got.returncode:
            raise SystemExit(f"error: {where}: cannot read {path} at {commit} (cited as {file}): "
                             f"{got.stderr.decode(errors='replace').strip()}")
        text = got.stdout.decode("utf-8")
        lines = text.split("\n")
        out[file] = {str(n): lines[n - 1] for n in sorted(numbers)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--git-dir", required=True,
                    help="each cited repository's git directory, with {owner} and {name}: MIRRORS/{owner}+{name}.git")
    ap.add_argument("--out", default=str(FIXTURE))
    args = ap.parse_args(argv)
    tables = load_all(load_params(ROOT / "params.yaml"))
    found = cited_lines(citations(tables), args.git_dir)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(found, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {sum(map(len, found.values()))} lines of {len(found)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
