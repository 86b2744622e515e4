"""Generated documentation: the README's targets table and the targets'
JSON schema, both made from the pydantic model and the YAML files so they
cannot drift (a test compares them with what is committed)."""

from __future__ import annotations

import json
import re

from toolchain import paths
from toolchain.targets import Target, aliases, load_target, target_names

BEGIN, END = "<!-- targets:begin -->", "<!-- targets:end -->"
SCHEMA_PATH = paths.TARGETS_DIR / "schema.json"
README_PATH = paths.REPO_ROOT / "README.md"


def targets_table() -> str:
    """A Markdown table of every buildable target."""
    rows = [
        "| target | OS | CPU baseline | typical RAM | compiler | makefile |",
        "|---|---|---|---|---|---|",
    ]
    for name in target_names():
        t = load_target(name)
        rows.append(
            f"| `{name}` | {t.platform.os_name} | {t.platform.cpu_name} (`{t.platform.cpu}`) | "
            f"{t.platform.ram_mb} MB | {t.compiler.name} | `{t.make.makefile}` ({t.make.dialect}) |"
        )
    rows.append("")
    for alias, names in aliases().items():
        rows.append(f"- `{alias}`: the first of {', '.join(f'`{n}`' for n in names)} whose compiler is installed")
    return "\n".join(rows)


def schema_json() -> str:
    """The JSON schema of a resolved target, for editors."""
    return json.dumps(Target.model_json_schema(), indent=2, sort_keys=True) + "\n"


def readme_with_table(text: str) -> str:
    """README text with the generated table between its markers."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: f"{BEGIN}\n{targets_table()}\n{END}", text)


def update() -> list[str]:
    """Rewrite the generated parts; return the files that changed."""
    changed = []
    readme = README_PATH.read_text(encoding="utf-8")
    new = readme_with_table(readme)
    if new != readme:
        README_PATH.write_text(new, encoding="utf-8")
        changed.append(str(README_PATH))
    schema = schema_json()
    if not SCHEMA_PATH.is_file() or SCHEMA_PATH.read_text(encoding="utf-8") != schema:
        SCHEMA_PATH.write_text(schema, encoding="utf-8")
        changed.append(str(SCHEMA_PATH))
    return changed
