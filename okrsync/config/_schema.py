"""The JSON Schema of the config, for editors and `okrsync schema`."""

from __future__ import annotations

from typing import Any

from okrsync.config._loading import default_model
from okrsync.config._models import Config


def json_schema(model: type[Config] | None = None) -> dict[str, Any]:
    schema = (default_model() if model is None else model).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "okrsync config"
    return schema
