from glsgn_cli.app import main

main()
