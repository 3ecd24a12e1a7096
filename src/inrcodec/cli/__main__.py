"""`python -m inrcodec.cli`."""

from .main import main

main()
