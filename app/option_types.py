"""The shape of one deployment option and of the groups that hold them."""

from __future__ import annotations

from dataclasses import dataclass, field

# Value types and how each travels:
#   string        text                       -> JSON string
#   bool          true/false/1/0/yes/no      -> JSON bool
#   int           decimal integer            -> JSON number
#   float         decimal number             -> JSON number
#   duration      Go duration ("24h0m0s")    -> JSON integer nanoseconds
#   url           absolute URL or empty      -> JSON string
#   host:port     "host:port" or empty       -> JSON string
#   string-array  comma separated            -> JSON array of strings
#   struct        YAML/JSON value            -> JSON value as given (object, array or null)
VALUE_TYPES = (
    "string",
    "bool",
    "int",
    "float",
    "duration",
    "url",
    "host:port",
    "string-array",
    "struct",
)


@dataclass(frozen=True)
class OptionGroup:
    """A group of options, as Coder's `clibase.Group`."""

    name: str
    yaml: str = ""
    description: str = ""
    parent: str | None = None  # the parent group's name


@dataclass(frozen=True)
class Option:
    """One setting: its names in every source, its default and where it lives."""

    name: str  # Coder's display name, e.g. "Access URL"
    key: str  # dotted path in the DeploymentValues tree, e.g. "logging.human"
    type: str  # one of VALUE_TYPES
    description: str = ""
    flag: str = ""  # without dashes, e.g. "access-url"
    flag_shorthand: str = ""
    env: str = ""  # e.g. "CODER_ACCESS_URL"
    yaml: str = ""  # the YAML leaf key, e.g. "accessURL"
    default: str = ""  # Coder's default as text, e.g. "24h0m0s"
    group: str | None = None  # an OptionGroup name
    secret: bool = False
    hidden: bool = False
    annotations: dict = field(default_factory=dict)
    use_instead: tuple = ()  # names of the options that replace this one
    acted_on: bool = False  # True when pycoderd implements the option's behaviour
    help: str = ""  # what --help says instead of Coder's description, where pycoderd differs
