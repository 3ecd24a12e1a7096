"""The `inrcodec` command line: `main` holds the app, `bench` and `medical` its command groups,
`common` what they share."""

from .main import app, main

__all__ = ["app", "main"]
