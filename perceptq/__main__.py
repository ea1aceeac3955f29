"""``python -m perceptq``: the same command line as the ``perceptq`` script."""

from perceptq.cli import main

main()
