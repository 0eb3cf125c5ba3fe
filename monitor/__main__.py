from monitor.shell.cli import main

main()
