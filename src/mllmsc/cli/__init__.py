"""The ``mllmsc`` command line (typer + rich). Heavy modules are imported inside commands."""
