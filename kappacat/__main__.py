"""``python -m kappacat``."""

from kappacat.cli import main

main()
