"""`python -m acpitables ...`: the same command line as `acpitables ...`."""
from .cli import run

if __name__ == "__main__":
    run()
