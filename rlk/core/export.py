"""The files of an exported policy (``rlk export``): ``policy.json`` and ``params.npz``.

``policy.json`` holds ``{"format": "rlk-policy", "version": 1, "network": {...}, ...}``: the network's
description (``rlk.nn.policy``) and where it came from (agent, env, run, seed, env steps);
``params.npz`` the network's arrays keyed by pytree path (``actor/layers/0/weight``). Both read with
numpy and json alone.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from rlk.core.errors import RlkError

FORMAT, VERSION = "rlk-policy", 1
DESCRIPTION, PARAMS = "policy.json", "params.npz"


def write_policy(out_dir: Path, network: dict[str, Any], params: dict[str, np.ndarray], info: dict[str, Any]) -> None:
    """Writes ``network`` (its description), ``params`` (arrays by path) and ``info`` into ``out_dir``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RlkError(f"--out '{out_dir}' is a file, not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / PARAMS, **params)
    doc = {"format": FORMAT, "version": VERSION, **info, "network": network}
    (out_dir / DESCRIPTION).write_text(json.dumps(doc, indent=2) + "\n")


def read_policy(policy_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(policy.json's document, arrays by path)`` of an exported policy; a one-line error otherwise."""
    policy_dir = Path(policy_dir)
    if not policy_dir.is_dir():
        raise RlkError(f"policy folder '{policy_dir}' does not exist")
    for name in (DESCRIPTION, PARAMS):
        if not (policy_dir / name).is_file():
            raise RlkError(f"policy folder '{policy_dir}' holds no {name} (write one with: rlk export RUN --out {policy_dir})")
    try:
        doc = json.loads((policy_dir / DESCRIPTION).read_text())
    except ValueError as exc:
        raise RlkError(f"{policy_dir / DESCRIPTION} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "network" not in doc:
        raise RlkError(f"{policy_dir / DESCRIPTION} is not an rlk policy (no \"format\": \"{FORMAT}\" and network)")
    if doc.get("version") != VERSION:
        raise RlkError(f"{policy_dir / DESCRIPTION}: version {doc.get('version')} is not supported (this rlk reads {VERSION})")
    try:
        with np.load(policy_dir / PARAMS, allow_pickle=False) as data:
            params = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RlkError(f"{policy_dir / PARAMS} cannot be read ({exc})") from None
    return doc, params
