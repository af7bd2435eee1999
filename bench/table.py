"""The latest results of every bench as one markdown table: ``python -m bench.table``."""

import json

from bench.common import RESULTS, TABLE_HEAD, Figure, machine, table_rows

ORDER = ["api_read", "api_write", "bot", "scale", "kill_drill", "slow_server", "load_faults"]


def load() -> tuple[dict[str, str], list[Figure]]:
    """Every stored figure (bench order), and the machine of the newest result file."""
    files = sorted(RESULTS.glob("*.json"), key=lambda f: f.stat().st_mtime)
    figures: list[Figure] = []
    info = machine()
    for path in files:
        data = json.loads(path.read_text())
        info = data["machine"]
        figures += [Figure(**f) for f in data["figures"]]
    figures.sort(key=lambda f: ORDER.index(f.bench) if f.bench in ORDER else len(ORDER))
    return info, figures


def main() -> None:
    info, figures = load()
    print(
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, "
        f"Python {info['python']}; {info['date']}\n"
    )
    print("\n".join(TABLE_HEAD + table_rows(figures)))


if __name__ == "__main__":
    main()
