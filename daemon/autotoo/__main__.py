"""``python -m autotoo`` is ``autotoo``."""

from autotoo.cli import run_main

run_main()
