from daas.cli import main

main()
