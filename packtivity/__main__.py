"""``python -m packtivity run|validate|checkproxy|util ...``: the console scripts, by module."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="python -m packtivity")
