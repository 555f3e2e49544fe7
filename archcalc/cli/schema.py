"""`schema`: a JSON Schema of the spec language, for editors and validators."""

from __future__ import annotations

import json
import sys

from ..schema import spec_schema
from .command import command


@command("schema")
def schema_command() -> None:
    """Print a JSON Schema (draft 2020-12) of the spec language, for editors and validators.

    Example: archcalc schema > archcalc.schema.json  (then point your editor's YAML language server at it)
    """
    sys.stdout.write(json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n")
