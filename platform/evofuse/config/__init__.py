"""Configuration: one YAML file (DESIGN.md contract), validated, overridable by EVOFUSE_*."""

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
