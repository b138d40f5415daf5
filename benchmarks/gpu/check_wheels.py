"""Check a folder of wheels to carry to the device machine: one version of each, needs all met.

    .venv/bin/python benchmarks/gpu/check_wheels.py [.whl] [--kinds /work/.library/device/KINDS.md]

The device machine installs the folder with ``pip install --no-index --no-deps``: pip resolves
nothing there, and two versions of one package stop the whole install. So each wheel's
``Requires-Dist`` (extras left out, markers evaluated for CPython 3.12 on x86-64 Linux) must name
another wheel of the folder or a package the machine already has: KINDS.md's package list, when
that file is here. Exit 1 on a duplicate or an unmet need.
"""

from __future__ import annotations

import argparse
import re
import sys
import zipfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors it
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

# The device machine's interpreter (KINDS.md: Python 3.12.3 on x86-64 Linux).
MARKERS = {
    "python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "sys_platform": "linux", "platform_system": "Linux",
    "platform_machine": "x86_64", "os_name": "posix", "extra": "",
}  # fmt: skip


def machine_packages(kinds: Path) -> set[str] | None:
    """The package names KINDS.md lists for the nvidia-h200 image (None when the file is absent)."""
    if not kinds.is_file():
        return None
    for line in kinds.read_text(encoding="utf-8").splitlines():
        if line.startswith("nvidia-h200:") and "Packages:" in line:
            names = line.split("Packages:", 1)[1].strip().rstrip(".")
            return {canonicalize_name(n.strip()) for n in names.split(",") if n.strip()}
    return None


def metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        return z.read(name).decode("utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=Path(".whl"))
    parser.add_argument("--kinds", type=Path, default=Path("/work/.library/device/KINDS.md"))
    args = parser.parse_args()
    wheels = sorted(args.folder.glob("*.whl"))
    if not wheels:
        print(f"check_wheels: no wheels in {args.folder}")
        return 1
    names: dict[str, Path] = {}
    problems = []
    for wheel in wheels:
        name = canonicalize_name(wheel.name.split("-")[0])
        if name in names:
            problems.append(f"two versions of {name}: {names[name].name} and {wheel.name}")
        names[name] = wheel
    there = machine_packages(args.kinds)
    for name, wheel in names.items():
        for line in metadata(wheel).splitlines():
            if not line.startswith("Requires-Dist:"):
                continue
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is not None and not req.marker.evaluate(MARKERS):
                continue  # an extra, or another Python or platform
            need = canonicalize_name(req.name)
            if need in names:
                continue
            if there is None:
                print(f"  {name} needs {req} (no KINDS.md here: not checked against the machine)")
            elif need not in there:
                problems.append(f"{name} needs {req}, neither carried nor on the machine")
    for p in problems:
        print(f"check_wheels: {p}")
    if not problems:
        print(f"check_wheels: {len(wheels)} wheels, one version each, every need carried or on the machine")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
