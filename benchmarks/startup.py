"""Start-up: how long a user waits for an argument error, for help, and for one Kodak transmission.

    .venv/bin/python benchmarks/startup.py [--repeats 5] [--no-write]

Each command runs as a fresh process (``.venv/bin/mllmsc ...``), as a user types it; the median
wall time of ``--repeats`` runs is reported. Goals (issue 13): an argument or file error in under
1 s; ``transmit`` of a Kodak image (768×512, AWGN 10 dB, CBR 1/16, default guidance) in under 3 s.
Writes the ``<!-- startup -->`` section of BENCHMARKS.md. Run it on an idle machine: another job
on the two cores slows every number.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import replace_section  # noqa: E402

MLLMSC = str(Path(sys.executable).with_name("mllmsc"))
KODAK = ROOT.parent / "shared" / "data" / "kodak" / "kodim23.png"


def wall(argv: list[str], repeats: int, expect: int, *, program: str = MLLMSC) -> float:
    """Median wall seconds of ``program argv`` over ``repeats`` fresh processes (checks the exit code)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([program, *argv], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != expect:
            raise SystemExit(f"{program} {' '.join(argv)} exited {done.returncode}: {done.stderr[-300:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("`mllmsc --help`", ["--help"], 0, None),
            ("missing file: `mllmsc transmit nope.png --out d`",
             ["transmit", "nope.png", "--out", tmp], 2, 1.0),
            ("bad SNR: `mllmsc transmit IMG --snr -400 --out d`",
             ["transmit", str(KODAK), "--snr", "-400", "--out", tmp], 2, 1.0),
            ("unknown channel: `mllmsc eval --channel smoke --out d`",
             ["eval", "--task", "vqa", "--channel", "smoke", "--out", tmp], 2, 1.0),
        ]  # fmt: skip
        if KODAK.is_file():
            cases += [
                ("`mllmsc transmit kodim23.png --out d` (768×512, AWGN 10 dB, CBR 1/16)",
                 ["transmit", str(KODAK), "--out", f"{tmp}/t"], 0, 3.0),
                ("the same over `--channel rayleigh` (imports Sionna for the fading)",
                 ["transmit", str(KODAK), "--channel", "rayleigh", "--out", f"{tmp}/r"], 0, None),
            ]  # fmt: skip
        lines = [
            "## Start-up and one transmission, as a user waits for them",
            "",
            f"`python benchmarks/startup.py --repeats {args.repeats}`: each command a fresh process, "
            f"median wall time of {args.repeats} runs on the 2-core CPU (idle). Arguments and files are "
            "checked before torch, Sionna or transformers are imported.",
            "",
            "| command | median wall (s) | goal |",
            "|---|---|---|",
        ]
        # The floor under every command that computes: the interpreter importing torch.
        floor = wall(["-c", "import torch"], args.repeats, 0, program=sys.executable)
        lines.append(f"| `python -c 'import torch'` (under every command that computes) | {floor:.2f} |  |")
        for name, argv, expect, goal in cases:
            seconds = wall(argv, args.repeats, expect)
            met = "" if goal is None else f"< {goal:g} s: {'met' if seconds < goal else 'not met'}"
            lines.append(f"| {name} | {seconds:.2f} | {met} |")
            print(lines[-1], flush=True)
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_write:
        replace_section("startup", markdown)


if __name__ == "__main__":
    main()
