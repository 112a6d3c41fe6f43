from glancevad.cli import main

main()
