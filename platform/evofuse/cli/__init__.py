"""The `evofuse` command line (Typer). Commands are thin: the work lives in the subpackages."""
