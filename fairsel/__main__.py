"""``python -m fairsel``: the fairsel program."""

import sys

try:
    from fairsel.cli import run
except KeyboardInterrupt:  # Ctrl-C while Python is still importing the command line
    sys.stderr.write("fairsel: interrupted; no output was half-written\n")
    sys.exit(130)

run()
