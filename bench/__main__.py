"""Run every benchmark and drill in turn, then print the combined table: ``python -m bench``.

Each one also runs alone (``python -m bench.api_read --help``). ``--quick`` shortens all of
them (for a smoke run); ``--minutes`` sets the length of the load + faults drill.
"""

import argparse
import subprocess
import sys

from bench import table
from bench.common import PY, ROOT


def plan(args: argparse.Namespace) -> list[list[str]]:
    """``[module, *arguments]`` for each bench."""
    quick = args.quick
    creates = "300" if quick else "1500"
    scale_out = [["bench.api_write", "--db", "postgres", "--workers", "2", "--requests", creates]]
    return [
        ["bench.api_read", "--db", args.db, "--seconds", "5" if quick else "10"],
        ["bench.api_write", "--db", args.db, "--requests", creates],
        *(scale_out if args.db != "sqlite" else []),
        ["bench.bot_start", "--db", args.db, "--updates", "300" if quick else "2000"],
        ["bench.scale", "--db", args.db, "--keys", "10000" if quick else "100000"],
        ["bench.kill_drill", "--kills", "10" if quick else "50"],
        ["bench.slow_server", "--seconds", "4" if quick else "8"],
        ["bench.load_faults", "--minutes", str(1 if quick else args.minutes)],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5, help="load + faults drill length")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--only", help="comma-separated bench names, e.g. api_read,scale")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    failed = []
    for module, *rest in plan(args):
        if wanted and module.removeprefix("bench.") not in wanted:
            continue
        print(f"\n== {module} {' '.join(rest)}", flush=True)
        if subprocess.run([PY, "-m", module, *rest], cwd=ROOT, check=False).returncode:
            failed.append(module)
    print("\n== results")
    table.main()
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
