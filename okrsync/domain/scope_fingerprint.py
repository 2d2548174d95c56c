"""What a KR's scope (its total leaf weight) is computed from, besides the items: a
stable digest, the key a kept scope at the cycle start is stored under, so a change of
the mapping never reuses one computed with another."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from okrsync.domain.models import Objective, Rules

# Raised when the way a scope is computed changes, so kept ones are computed again.
SCOPE_RULES_VERSION = 1


def scope_fingerprint(objectives: Iterable[Objective], rules: Rules) -> str:
    """A digest of everything that maps items to KRs and weighs them: each KR's id and
    labels (in the config's order: the first spelling of an id wins), the label pattern,
    inheritance, the weight mode and default points, and the status and label buckets.
    Health thresholds, credit and KR targets are left out: they don't change a weight."""
    shape = {
        "version": SCOPE_RULES_VERSION,
        "krs": [
            [kr.id, list(kr.labels)] for objective in objectives for kr in objective.key_results
        ],
        "label_pattern": rules.label_pattern,
        "inherit_from_parent": rules.inherit_from_parent,
        "weight": rules.weight,
        "default_points": rules.default_points,
        "status_buckets": sorted((k, v.value) for k, v in rules.status_buckets.items()),
        "label_buckets": sorted((k, v.value) for k, v in rules.label_buckets.items()),
    }
    text = json.dumps(shape, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
