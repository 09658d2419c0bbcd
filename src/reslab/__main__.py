from reslab.cli import main

main()
