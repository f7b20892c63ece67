from glsgn_cli.entry import main

main()
