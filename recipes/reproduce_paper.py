"""MPCL vs single-positive CL vs sentence-transformers on NTREX-128: `recipes/paper/`.

    KERAS_BACKEND=tensorflow python recipes/reproduce_paper.py   # the committed results' settings
    python recipes/reproduce_paper.py --help

The experiment is the `paper` package beside this file (see its docstring).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

from paper import main  # noqa: E402

if __name__ == "__main__":
    main()
