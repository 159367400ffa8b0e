"""Every option has one home: a flag shared by commands is spelled, typed and defaulted alike everywhere, its
choices are the registry's and its default is the owning module's constant."""

from __future__ import annotations

import click
import pytest

from farmannot.cli.main import cli

# Flags that mean different things in different commands (the one home is per meaning).
MEANINGS = {
    "overlap": {"propose": "chip", "precompute-embeddings": "chip", "predict": "patch"},
    "device": {"train": "training", "audit": "training", "evaluate": "training",
               "predict": "torch", "propose": "torch", "annotate": "torch", "precompute-embeddings": "torch"},
    "batch-size": {"train": "train", "audit": "train", "evaluate": "train", "predict": "patches"},
    "epochs": {"train": "run", "audit": "fold"},
}
# Each command's own: where it writes, what it reads, its own format and split words.
PER_COMMAND = {"output", "project", "scene", "format", "split"}


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in cli.list_commands(ctx)}


def _option(cmd: click.Command, flag: str) -> click.Option:
    return next(p for p in cmd.params if isinstance(p, click.Option) and f"--{flag}" in p.opts)


def _signature(opt: click.Option):
    choices = tuple(opt.type.choices) if isinstance(opt.type, click.Choice) else None
    return (type(opt.type).__name__, choices, opt.default, opt.is_flag, opt.multiple, opt.show_default)


def test_a_flag_shared_by_commands_is_the_same_option_in_each():
    seen: dict[tuple[str, str], dict[str, tuple]] = {}
    for name, cmd in _commands().items():
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            flag = next(o for o in p.opts if o.startswith("--")).lstrip("-")
            meaning = MEANINGS.get(flag, {}).get(name, "")
            if flag in PER_COMMAND:
                meaning = name
            elif name == "build-dataset" and p.default is None:
                meaning = "config"  # build-dataset's flags override its YAML config, whose defaults are BuildConfig's
            seen.setdefault((flag, meaning), {})[name] = _signature(p)
    shared = {k: v for k, v in seen.items() if len(v) > 1}
    assert ("chip", "") in shared and ("keep-going", "") in shared and ("sam-model", "") in shared
    for (flag, meaning), by_command in shared.items():
        assert len(set(by_command.values())) == 1, (flag, meaning, by_command)


def test_choices_come_from_the_registries():
    from farmannot.sam.registry import FAMILIES
    from farmannot.train.models.catalog import MODELS

    cmds = _commands()
    for name in ("train", "audit"):
        assert tuple(_option(cmds[name], "model").type.choices) == tuple(MODELS)
    sam_models = FAMILIES["sam"].models + FAMILIES["sam2"].models + FAMILIES["sam3"].models
    for name in ("propose", "annotate", "precompute-embeddings"):
        assert tuple(_option(cmds[name], "sam-model").type.choices) == sam_models
    assert "sam3" in sam_models  # SAM 3 runs on the CPU now (farmannot.sam.sam3_model)


@pytest.mark.parametrize("flag,command", [("chip", "propose"), ("chip", "precompute-embeddings"),
                                          ("overlap", "propose"), ("overlap", "precompute-embeddings")])
def test_chip_defaults_are_the_chip_grids(flag, command):
    import inspect

    from farmannot.sam.chips import chip_grid
    from farmannot.sam.propose import ProposeOptions

    grid = inspect.signature(chip_grid).parameters
    want = {"chip": grid["chip"].default, "overlap": grid["overlap"].default}[flag]
    assert want == {"chip": 1024, "overlap": 256}[flag]  # SAM's input size and the documented overlap
    assert _option(_commands()[command], flag).default == want
    assert getattr(ProposeOptions(), flag) == want


def test_predict_patch_and_align_window_defaults_are_their_modules():
    import inspect

    from farmannot.predict.scene import predict_scene
    from farmannot.terrain.align import align_dem

    cmds = _commands()
    params = inspect.signature(predict_scene).parameters
    assert _option(cmds["predict"], "patch").default == params["patch"].default == 1024
    assert _option(cmds["predict"], "overlap").default == params["overlap"].default == 64
    assert _option(cmds["align-dem"], "window-size").default == \
        inspect.signature(align_dem).parameters["window_size"].default == 1024
