from atomiton.cli.app import main

main()
