"""Offline stand-in for the get-pip bootstrap script ansible-test downloads.

ansible-test creates an empty virtualenv per sanity test and fetches get-pip.py from a host this
machine cannot reach. This does the same job from what is here: ``ensurepip`` gives the venv a
pip, then the requested packages (e.g. ``pip==24.2``) come from the configured package index.
`make sanity` installs it where ansible-test looks for its cached copy.
"""

from __future__ import annotations

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])
