"""Training, evaluation and label audit for farmland segmentation (torch; layer 4).

Submodules import torch lazily where they can: ``farmannot.train.metrics`` is pure numpy and usable on its
own, without torch.
"""
