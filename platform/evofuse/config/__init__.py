"""Configuration: one YAML file (see the README's configuration section), validated, overridable
by EVOFUSE_* environment variables."""

from evofuse.config.loader import find_config_path, load_settings
from evofuse.config.models import (
    FusionMode,
    FusionProfile,
    FusionSettings,
    JudgeOutput,
    LocalModelSettings,
    Settings,
)

__all__ = [
    "FusionMode",
    "FusionProfile",
    "FusionSettings",
    "JudgeOutput",
    "LocalModelSettings",
    "Settings",
    "find_config_path",
    "load_settings",
]
