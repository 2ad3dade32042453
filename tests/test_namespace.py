"""The install is one import package, `attention_swap_reid`, that lives beside other projects.

A built wheel holds that one top-level package and nothing else; installed into a scratch
environment beside a stand-in for Hugging Face's `kernels` (a distribution of that import name
with its own `get_kernel`), both import, a stray `kernels.py` / `trainer.py` in the working
directory changes nothing, and uninstalling ours leaves theirs whole. Every import of project code
in the repository goes through the package (checked on the source, so a forgotten
`from kernels import ...` fails here even where the repository root happens to be on sys.path).
"""
import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "attention_swap_reid"
FOLDERS = ("kernels", "dali_pipes", "prepare", "trainer", "sweeps", "benchmarks")


def _run(*cmd, cwd=None, env=None):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _project_sources():
    for folder in (*FOLDERS, PACKAGE, "tests", "examples"):
        yield from (ROOT / folder).rglob("*.py")


def test_no_source_imports_a_folder_as_a_top_level_package():
    offenders = []
    for path in _project_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno}: {name}" for name in names
                          if name.split(".")[0] in FOLDERS]
    assert offenders == []


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """Our wheel, built from the checkout, and a stand-in `kernels` distribution's wheel."""
    out = tmp_path_factory.mktemp("wheels")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, ROOT)
    theirs = tmp_path_factory.mktemp("theirs")
    (theirs / "kernels").mkdir()
    (theirs / "kernels" / "__init__.py").write_text("def get_kernel(name):\n    return 'hub:' + name\n")
    (theirs / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "kernels"\nversion = "0.0.1"\n[tool.setuptools]\npackages = ["kernels"]\n')
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, theirs)
    [ours] = out.glob("attention_swap_reid-*.whl")
    [kernels] = out.glob("kernels-*.whl")
    return ours, kernels


def test_the_wheel_holds_one_top_level_package_with_every_folder_in_it(wheels):
    ours, _ = wheels
    names = zipfile.ZipFile(ours).namelist()
    top = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert top == {PACKAGE}
    for folder in FOLDERS:
        assert f"{PACKAGE}/{folder}/__init__.py" in names
    assert f"{PACKAGE}/kernels/cuda/augment.cu" in names
    for tooling in ("__init__.py", "emulation.py", "emulation_runtime.h", "emulation_trace.h"):
        assert f"{PACKAGE}/kernels/testing/{tooling}" in names  # the CPU emulation (test tooling) ships
    assert f"{PACKAGE}/trainer/pipeline.yaml" in names
    assert not any(name.startswith((f"{PACKAGE}/tests/", f"{PACKAGE}/examples/")) for name in names)


def test_installed_beside_another_kernels_both_import_and_ours_uninstalls_cleanly(wheels, tmp_path):
    import numpy

    ours, kernels = wheels
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    _run(*pip, "install", "-q", "--no-deps", "--no-index", kernels, ours)
    # our dependencies (numpy, OpenCV, ...) from this environment, without its editable install of
    # the project: the .pth files of a folder that a .pth file adds are not read
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "deps.pth").write_text(f"{Path(numpy.__file__).parents[1]}\n")

    both = ("import kernels, attention_swap_reid.kernels as ours, attention_swap_reid.trainer.config\n"
            "assert kernels.get_kernel('x') == 'hub:x'\n"
            "ours.AugmentConfig(p=0.5)\n"
            f"assert ours.__file__.startswith({str(site)!r}), ours.__file__\n"
            "print('ok')\n")
    assert _run(python, "-c", both, cwd=tmp_path).strip() == "ok"

    # -c puts the working directory first on sys.path, where these two would shadow top-level names
    workdir = tmp_path / "work"
    workdir.mkdir()
    for name in ("kernels", "trainer"):
        (workdir / f"{name}.py").write_text(f"raise SystemExit('the stray {name}.py was imported')\n")
    stray = ("import attention_swap_reid.kernels as k, attention_swap_reid.dali_pipes.manifest, "
             "attention_swap_reid.trainer.config; k.AugmentConfig(); print('ok')")
    assert _run(python, "-c", stray, cwd=workdir).strip() == "ok"

    _run(*pip, "uninstall", "-q", "-y", "attention-swap-reid")
    assert _run(python, "-c", "import kernels; print(kernels.get_kernel('y'))", cwd=tmp_path).strip() == "hub:y"
    assert not (site / PACKAGE).exists()


def test_commands_ignore_stray_modules_in_the_working_directory(tmp_path):
    """The scripts and `python -m` commands of this environment's (editable) install, run where a
    `kernels.py`, `trainer.py` and `dali_pipes.py` would shadow top-level names."""
    for name in ("kernels", "trainer", "dali_pipes", "prepare"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the stray {name}.py was imported')\n")
    for command in ([ROOT / "trainer" / "run.py", "--help"], [ROOT / "benchmarks" / "throughput.py", "--help"],
                    ["-m", "attention_swap_reid.trainer.extract", "--help"],
                    ["-m", "attention_swap_reid.dali_pipes.check", "--help"],
                    ["-m", "attention_swap_reid.sweeps", "--help"]):
        assert _run(sys.executable, *command, cwd=tmp_path).startswith("usage:")
