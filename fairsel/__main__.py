from fairsel.cli import main

main()
