from modelbay.cli.main import main

main()
