"""The tests under every Python the connector supports, 3.10 to 3.13, with nox.

    .venv/bin/nox                               # the whole suite under each of them found here
    .venv/bin/nox -s tests-3.13                 # under one
    .venv/bin/nox -p 3.10 3.13 -- unit_tests    # pytest's arguments after `--` (default: every test)
    .venv/bin/nox -l                            # the sessions

`make test` runs the unit tests this way under the Pythons other than the default one, and
`make test-matrix` the whole suite under all of them (see the Makefile for why the split).

A Python that is not on the machine is skipped, not failed, and nox says which:
"Session tests-3.10 skipped: Python interpreter 3.10 not found", and again in its summary.
nox looks for interpreters on PATH. pyenv's shims are no use to it (a shim only runs the
versions pyenv has switched on, and nox takes the shim's path for the interpreter's), so the
bin folders of pyenv's installed 3.10-3.13 go first on PATH here. Nothing is downloaded: a
missing Python stays missing.

Each Python's virtualenv is kept in .nox/ and reused; it is installed again when setup.py
changes (a pin, an entry point), not on every run, which saved 8-12 s a Python. docs/architecture.md
("Testing and the Python versions") has the timings.
"""

import glob
import hashlib
import os
from pathlib import Path

import nox

# setup.py's python_requires (>=3.10,<3.14), which is the CDK 7's own range.
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
# nox turns a missing interpreter into an error where the CI variable is set; a machine
# without one of these Pythons still tests the others, and the skip is in the output.
nox.options.error_on_missing_interpreters = False
# The default ("auto") would try to download a standalone Python for a missing version.
nox.options.download_python = "never"


def _pyenv_bins() -> list[str]:
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for version in PYTHONS:
        # The newest patch release of each minor version, e.g. versions/3.13.0/bin.
        candidates = glob.glob(os.path.join(root, "versions", f"{version}.*", "bin"))
        candidates.sort(key=lambda path: [int(part) for part in path.split(os.sep)[-2].split(".") if part.isdigit()])
        found += candidates[-1:]
    return found


os.environ["PATH"] = os.pathsep.join([*_pyenv_bins(), os.environ.get("PATH", "")])


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite, or what the pytest arguments after `--` select.

    The whole suite: the unit tests, the integration tests against the sandbox, the CDK's
    standard tests."""
    _install(session)
    session.run("python", "--version")
    session.run("python", "-m", "pytest", *(session.posargs or ["unit_tests", "integration_tests"]))


def _install(session: nox.Session) -> None:
    """The connector and its tests extra, unless this virtualenv has them for this setup.py."""
    location = getattr(session.virtualenv, "location", None)
    stamp = Path(location, ".setup.py.sha256") if location else None
    wanted = hashlib.sha256(Path("setup.py").read_bytes()).hexdigest()
    if stamp and stamp.exists() and stamp.read_text() == wanted:
        session.log("setup.py unchanged since this virtualenv was installed: no install")
        return
    session.install("--quiet", "-e", ".[tests]")
    if stamp:
        stamp.write_text(wanted)
