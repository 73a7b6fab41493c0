"""`python -m benchhash ...` runs the benchhash command."""

from benchhash.cli import main

if __name__ == "__main__":
    main()
