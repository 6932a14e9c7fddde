from fairsel.cli import run

run()
