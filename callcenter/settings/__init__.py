"""The configuration IT edits: loading, validation with exact error places, summaries.

Public API::

    load_settings(config_dir, overrides=None) -> Settings     # raises ConfigErrors
    check_config_main(config_dir, out) -> int                 # `callcenter check-config`
    diff_settings(old, new) -> list[str]                      # what a reload changed

See docs/configuration.md for every file and key.
"""

from callcenter.settings.check import check_config_main
from callcenter.settings.diff import diff_settings
from callcenter.settings.errors import ConfigError, ConfigErrors
from callcenter.settings.loader import load_settings
from callcenter.settings.model import Settings

__all__ = ["ConfigError", "ConfigErrors", "Settings", "check_config_main", "diff_settings", "load_settings"]
