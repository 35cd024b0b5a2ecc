"""Every settings class of every component, and the environment variables they read."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

from pydantic_settings import BaseSettings

PACKAGES = ("kappacat", "catalog_api", "ingest", "inference", "tiler")


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def settings_classes() -> list[type[BaseSettings]]:
    """KappaCat's settings classes (imports every module named ``settings`` in our packages)."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if info.name.rsplit(".", 1)[-1] == "settings":
                importlib.import_module(info.name)
    found = {cls for cls in _subclasses(BaseSettings) if cls.__module__.split(".")[0] in PACKAGES}
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def environment_variables() -> dict[str, tuple[type[BaseSettings], str]]:
    """``KAPPACAT_*`` variable name -> (settings class, field name)."""
    names: dict[str, tuple[type[BaseSettings], str]] = {}
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            names[(alias or f"{prefix}{field_name}").upper()] = (cls, field_name)
    return names
