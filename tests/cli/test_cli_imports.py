"""Importing a command's module (what ``farmannot CMD --help`` does) loads no heavy library it does not need."""

import subprocess
import sys

import pytest

CHECK = "import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"


@pytest.mark.parametrize("module, heavy", [
    ("farmannot.cli.evaluate", ("scipy", "skimage", "torch")),
    ("farmannot.train.metrics.protocol", ("scipy", "skimage")),
])
def test_a_command_module_loads_no_scipy(module, heavy):
    out = subprocess.run([sys.executable, "-c", CHECK.format(module=module, heavy=heavy)], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_metrics_package_still_gives_every_name_from_its_module():
    import farmannot.train.metrics as metrics
    from farmannot.train.metrics import accumulate, edge, object, pixel

    homes = {"MetricAccumulator": accumulate, "PixelCounts": pixel, "pixel_counts": pixel, "pixel_scores": pixel,
             "bsds_counts": edge, "bsds_summary": edge, "gtpbd_edge_scores": edge, "mask_boundary": edge,
             "object_scores": object}
    assert sorted(metrics.__all__) == sorted(homes)
    for name, module in homes.items():
        assert getattr(metrics, name) is getattr(module, name), name
    with pytest.raises(AttributeError, match="no_such_metric"):
        metrics.no_such_metric  # noqa: B018
