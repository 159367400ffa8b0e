"""``python -m farmannot`` (and ``torchrun -m farmannot train ...`` for multi-GPU training)."""

from farmannot.cli.main import main

main()
