"""The deployment as clients see it: its config (secrets blanked), SSH settings and stats."""

from __future__ import annotations

from app import options
from app.option_types import Option

# Where a value came from, as Coder names it. Values handed to the app factory by the program
# that starts it (the test mapping) count as flags.
VALUE_SOURCES = {"default": "default", "yaml": "yaml", "env": "env", "flag": "flag"}
VALUE_SOURCES["override"] = "flag"

# Coder's DeploymentValues tags every top-level field `omitempty`: Go then drops false, 0, ""
# and empty arrays, but never structs (URLs, host:port values, Struct[T]) or nested groups.
_ALWAYS_SHOWN = ("url", "host:port", "struct")


def access_url(settings) -> str:
    """The URL users reach the deployment at (the HTTP address when none is configured)."""
    return settings["access_url"] or f"http://{settings['http_address'] or '127.0.0.1:3000'}"


def _value(option: Option, settings):
    """The option's value on the wire; secrets always blank."""
    return "" if option.secret else settings[option.key]


def config(settings) -> dict:
    """`{config, options}`: the DeploymentValues tree and the option list, secrets blanked."""
    tree: dict = {}
    for option in options.all_options():
        value = _value(option, settings)
        *parents, leaf = option.key.split(".")
        if not parents and option.type not in _ALWAYS_SHOWN and value in (False, 0, "", []):
            continue
        node = tree
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    by_name = {option.name: option for option in options.all_options()}
    return {
        "config": tree,
        "options": [_option(option, settings, by_name) for option in options.all_options()],
    }


def _option(option: Option, settings, by_name: dict) -> dict:
    """One option as clibase.Option marshals it (empty fields omitted)."""
    annotations = dict(option.annotations)
    if option.secret:
        annotations["secret"] = "true"
    document = {
        "name": option.name,
        "description": option.description,
        "flag": option.flag,
        "flag_shorthand": option.flag_shorthand,
        "env": option.env,
        "yaml": option.yaml,
        "default": "" if option.secret else option.default,
    }
    document = {key: value for key, value in document.items() if value}
    document["value"] = _value(option, settings)
    if annotations:
        document["annotations"] = annotations
    groups = options.group_path(option)
    if groups:
        document["group"] = _group(groups)
    instead = [by_name[name] for name in option.use_instead if name in by_name]
    if instead:
        document["use_instead"] = [_option(other, settings, by_name) for other in instead]
    if option.hidden:
        document["hidden"] = True
    document["value_source"] = VALUE_SOURCES[settings.source(option.key)]
    return document


def _group(path: list) -> dict:
    """A group with its parents nested (`parent`), innermost first."""
    group = path[-1]
    document = {"name": group.name, "yaml": group.yaml, "description": group.description}
    document = {key: value for key, value in document.items() if value}
    if len(path) > 1:
        document["parent"] = _group(path[:-1])
    return document


def ssh_config(settings) -> dict:
    return {
        "hostname_prefix": settings["config_ssh.DeploymentName"],
        "ssh_config_options": dict(
            options.split_ssh_option(entry)
            for entry in settings["config_ssh.SSHConfigOptions"] or ()
        ),
    }
