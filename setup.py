"""Package discovery for farmannot: everything is in pyproject.toml except what it cannot say.

The labelme plugin lives in ``plugins/farmannot_labelme`` and is imported as ``farmannot_labelme``; pyproject's
``packages.find`` cannot be combined with that folder mapping, so the package list is made here.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["farmannot", "farmannot.*"])
    + find_packages("plugins", include=["farmannot_labelme", "farmannot_labelme.*"]),
    package_dir={"farmannot_labelme": "plugins/farmannot_labelme"},
)
