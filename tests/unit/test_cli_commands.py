"""The resource commands are generated from the action registry (issue 19): every action is exactly one command,
no two share one, and the names follow the rules of jvp/cli/resources.py; the request fields become options
with the schema's types and choices."""
from __future__ import annotations

from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner
from marshmallow import Schema, fields, validate

from jvp.cli import main
from jvp.cli.resources import (CommandName, api_modules, command_name, command_table, field_option, load_registry,
                               request_options)

registry = load_registry()
ACTIONS = registry.all()


def generated() -> dict[tuple[str, str], click.Command]:
    """Every command under a resource group of `jvp`, by (group, command)."""
    out = {}
    main.list_commands(click.Context(main))  # builds the resource groups
    for gname, group in main.commands.items():
        if isinstance(group, click.Group) and gname != "token":
            for cname, cmd in group.commands.items():
                out[(gname, cname)] = cmd
    return out


def test_every_action_is_exactly_one_command_and_every_command_one_action():
    table = command_table(ACTIONS)
    assert len(ACTIONS) > 90  # the whole registry, not a few modules
    assert sorted(a.name for a in table.values()) == sorted(a.name for a in ACTIONS)
    cmds = generated()
    for name, action in table.items():
        cmd = cmds[(name.group, name.command)]
        assert f"Action: {action.name} " in cmd.help, (name, action.name)
    # the commands of the CLI are those of the table, and `jvp vm console` (hand-written, interactive)
    extra = set(cmds) - {(n.group, n.command) for n in table}
    assert extra == {("vm", "console")}


@pytest.mark.parametrize("action,expected", [
    ("list-vms", ("vm", "list")), ("describe-vm", ("vm", "show")), ("create-vm", ("vm", "create")),
    ("start-vm", ("vm", "start")), ("stop-vm", ("vm", "stop")), ("delete-vm", ("vm", "delete")),
    ("attach-volume", ("vm", "attach-volume")), ("get-vm-console", ("vm", "get-console")),
    ("describe-vm-xml", ("vm", "show-xml")), ("reset-vm-password", ("vm", "reset-password")),
    ("migrate-vm", ("vm", "migrate")), ("check-migrate-vm", ("vm", "check-migrate")),
    ("describe-vm-metrics", ("vm", "show-metrics")), ("list-vm-usage", ("vm", "list-usage")),
    ("list-nodes", ("node", "list")), ("describe-node-disks", ("node", "show-disks")),
    ("evacuate-node", ("node", "evacuate")), ("describe-node-metrics", ("node", "show-metrics")),
    ("list-storage-pools", ("pool", "list")), ("create-storage-pool", ("pool", "create")),
    ("list-volumes", ("volume", "list")), ("clone-volume", ("volume", "clone")),
    ("clone-from-snapshot", ("snapshot", "clone")), ("export-snapshot-to-template", ("snapshot", "export-to-template")),
    ("add-network-host", ("network", "add-host")), ("list-network-leases", ("network", "list-leases")),
    ("register-template", ("template", "register")), ("check-template-updates", ("template", "check-updates")),
    ("list-keypairs", ("keypair", "list")), ("describe-task", ("task", "show")), ("cancel-task", ("task", "cancel")),
    ("list-audit-events", ("audit", "list-events")), ("describe-token", ("auth", "show-token")),
])
def test_names_follow_the_rules(action, expected):
    table = {a.name: n for n, a in command_table(ACTIONS).items()}
    assert (table[action].group, table[action].command) == expected


@dataclass(frozen=True)
class FakeAction:
    name: str
    tag: str
    status: int = 200


def test_a_clash_is_refused_by_name():
    groups = {"vm"}
    assert command_name(FakeAction("list-vms", "vm"), groups) == CommandName("vm", "list")
    with pytest.raises(ValueError, match="list-vm and list-vms both map to `jvp vm list`"):
        command_table([FakeAction("list-vms", "vm"), FakeAction("list-vm", "vm")])


def test_the_api_modules_are_those_of_the_app():
    from jvp.app import API_MODULES
    assert api_modules() == list(API_MODULES)


def test_no_group_takes_the_name_of_a_builtin_command():
    builtin = {"serve", "check", "doctor", "token", "call", "openapi"}
    assert not builtin & {n.group for n in command_table(ACTIONS)}
    assert builtin <= set(main.list_commands(click.Context(main)))


def test_fields_become_typed_options_with_choices_and_help():
    opts = {o.key: o for o in request_options(registry.get("create-vm"))}
    assert opts["memory_mib"].option == "--memory-mib" and opts["memory_mib"].type is click.INT
    assert "64..16777216" in opts["memory_mib"].help and "default: 1024" in opts["memory_mib"].help
    assert isinstance(opts["firmware"].type, click.Choice) and set(opts["firmware"].type.choices) == {"bios", "uefi"}
    assert opts["start"].is_flag and opts["autostart"].is_flag
    assert opts["nics"].type.name == "JSON" and opts["labels"].type.name == "JSON"
    assert "required" in opts["name"].help and opts["name"].required
    assert "guest agent" in opts["wait_for"].help  # the field's metadata description


def test_a_field_named_like_a_common_option_gets_a_prefixed_option():
    class S(Schema):
        output = fields.String(validate=validate.OneOf(["a", "b"]))
    opt = field_option("output", S().fields["output"])
    assert opt.option == "--field-output" and opt.key == "output"


def test_every_command_has_options_for_all_request_fields_and_its_help_renders():
    runner = CliRunner()
    table = command_table(ACTIONS)
    for name, action in table.items():
        res = runner.invoke(main, [name.group, name.command, "--help"])
        assert res.exit_code == 0, (name, res.output)
        for opt in request_options(action):
            assert opt.option in res.output, (action.name, opt.option)
        assert ("--wait" in res.output) == (action.status == 202), action.name
        assert "-o, --output [table|json|yaml]" in res.output


def test_main_help_documents_exit_codes_and_completion():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0
    for line in ("0  success", "2  usage or validation", "3  authentication", "4  not found",
                 "5  conflict", "6  server or node unreachable", "7  the task failed"):
        assert line in res.output
    assert "_JVP_COMPLETE=bash_source jvp" in res.output
