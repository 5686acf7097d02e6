from kitlib.cli import main

main()
