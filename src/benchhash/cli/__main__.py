"""`python -m benchhash.cli`, as `python -m benchhash` and the `benchhash` script."""

from benchhash.cli.main import main

main()
