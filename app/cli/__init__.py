"""The ``claimbridge`` command (typer). Bad input: one line on stderr and exit code 2."""
