"""``python -m app.cli`` = ``claimbridge``."""

from app.cli.main import main

main()
