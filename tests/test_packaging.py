"""The dependency lists agree: every lower bound of pyproject.toml is pinned in compat.txt (what
`make compat` installs and tests), the lock satisfies every range and holds one cv2
distribution, and the install hints the code prints name only extras and distributions that
exist."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11 (make compat runs 3.10: these checks run in make test)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REQUIREMENT = re.compile(r"([A-Za-z0-9_.-]+)\s*(?:>=\s*([0-9][^,;\s]*))?")


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    return {norm(n): v for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", path.read_text(), re.M)}


def requirements(*extras: str) -> dict[str, str | None]:
    """{name: lower bound or None} of the base dependencies and `extras`."""
    found = {}
    for line in PYPROJECT["dependencies"] + [r for e in extras for r in PYPROJECT["optional-dependencies"][e]]:
        name, floor = REQUIREMENT.match(line).groups()
        found[norm(name)] = floor
    return found


def version(text: str) -> tuple[int, ...]:
    """(2, 4) for "2.4", "2.4.0" and "2.4.0+cu121": release numbers without trailing zeros."""
    numbers = [int(p) for p in re.findall(r"\d+", text.split("+")[0])]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def test_every_floor_is_what_make_compat_installs():
    floors = {n: version(f) for n, f in requirements("cuda12", "dev").items() if f is not None}
    assert {n: version(v) for n, v in pins(ROOT / "compat.txt").items()} == floors
    python = re.search(r"^COMPAT_PYTHON \?= python(\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]
    assert PYPROJECT["requires-python"] == f">={python}"


def test_the_lock_satisfies_every_range_and_has_one_cv2():
    lock = pins(ROOT / "constraints.txt")
    for name, floor in requirements("cuda12", "cuda13", "dev").items():
        assert name in lock, f"{name} is not locked"
        assert floor is None or version(lock[name]) >= version(floor), f"{name}=={lock[name]} < {floor}"
    cv2 = [n for n in lock if n.startswith("opencv-")]
    assert cv2 == ["opencv-python"], "one cv2 distribution, the one pyproject.toml names"


def test_install_hints_name_extras_and_distributions_that_exist():
    from attention_swap_reid.dali_pipes import MISSING_DALI
    from attention_swap_reid.dali_pipes.cuda_flavour import mismatch

    source = (ROOT / "kernels" / "arrays.py").read_text()  # the hint of a CUDA tensor without CuPy
    cupy_hint = re.search(r'raise ImportError\((.*?)\) from e', source, re.S)[1]
    flavour = mismatch("2.14.1", "13.0", {"DALI": ("nvidia-dali-cuda120", 12)})
    extras = set(PYPROJECT["optional-dependencies"])
    distributions = {norm(REQUIREMENT.match(r)[1]) for e in ("cuda12", "cuda13") for r in
                     PYPROJECT["optional-dependencies"][e]}
    for hint in (MISSING_DALI, cupy_hint, flavour):
        assert "attention-swap-reid[" not in hint  # not on PyPI
        named_extras = re.findall(r"pip install -e '\.\[(\w+)\]'", hint)
        assert named_extras and set(named_extras) <= extras, hint
        for named in re.findall(r"pip install ((?:[a-z][a-z0-9-]* ?)+)", hint):
            assert set(named.split()) <= distributions, hint


def test_the_readmes_install_beside_another_cv2_lists_every_other_dependency():
    readme = (ROOT / "README.md").read_text()
    line = re.search(r"pip install --no-deps -e '\.\[cuda12\]'\npip install (.*?)\n(?!    )", readme, re.S)[1]
    listed = {norm(name): floor for name, floor in re.findall(r"'([a-z0-9-]+)>=([^']+)'", line)}
    expected = {n: f for n, f in requirements("cuda12").items() if n != "opencv-python"}
    assert listed == expected
