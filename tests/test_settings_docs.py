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
