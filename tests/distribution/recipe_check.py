"""The multi-device recipe (`recipes/distributed/train_distributed.py`) as a check.

The check scripts call `run_recipe_if_asked` after their own checks, so that
the recipe runs on their devices without a process start of its own. Prints
`CHECK recipe` once the recipe has finished.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_recipe_if_asked(argv, tag=""):
    """Runs the recipe with the arguments after `--recipe` in `argv`, if there is one."""
    if "--recipe" not in argv:
        return
    sys.path.insert(0, os.path.join(REPO, "recipes", "distributed"))
    from train_distributed import main

    main(argv[argv.index("--recipe") + 1:])
    print(f"CHECK recipe{tag}", flush=True)
