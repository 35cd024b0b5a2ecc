"""The settings documentation cannot drift from the settings classes."""

from __future__ import annotations

from pathlib import Path

from kappacat.settings_index import env_example, environment_variables

REPO = Path(__file__).resolve().parents[1]


def test_env_example_is_generated_from_the_settings() -> None:
    current = (REPO / ".env.example").read_text()
    assert current == env_example(), (
        ".env.example is stale: python -m kappacat.settings_index > .env.example"
    )


def test_readme_documents_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    missing = sorted(name for name in environment_variables() if f"`{name}`" not in readme)
    assert missing == [], f"README.md's configuration table lacks {missing}"


def test_every_setting_says_what_it_is_for() -> None:
    """Every field of every settings class has a description (an attribute docstring or a
    ``description``): it is what ``.env.example`` and the README tell an operator."""
    found = {cls.__name__ for cls, _ in environment_variables().values()}
    assert found >= {  # every component's settings are in the index the docs are made from
        *("DatabaseSettings", "StacSchemaSettings", "StorageSettings", "ApiSettings"),
        *("BrokerSettings", "WorkerSettings", "SubmitSettings", "InferenceSettings"),
        *("SourceSettings", "TilerSettings"),
    }, found
    undocumented = sorted(
        f"{cls.__name__}.{name}"
        for cls, name in environment_variables().values()
        if not (cls.model_fields[name].description or "").strip()
    )
    assert undocumented == []
