"""Hugging Face Hub uploads that fail fast and clearly when the Hub cannot be reached.

Every push in the suite (datasets, checkpoints, results) goes through `push_folder`, so the offline
behaviour is the same everywhere: a check that takes seconds, a message that says what to do, and the
local folder left exactly as it was (uploads only read it).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse


class HubUnreachableError(RuntimeError):
    pass


def _offline_help(folder: Path, repo_id: str, repo_type: str, why: str) -> str:
    return (
        f"cannot push {folder} to the Hub {repo_type} repo {repo_id!r}: {why}. The local folder is intact. "
        f"On a machine with Hub access, run `hf auth login` and then "
        f"`hf upload {repo_id} {folder} . --repo-type {repo_type}`, or rerun this command there."
    )


def check_hub_reachable(timeout: float = 3.0) -> None:
    """Raise HubUnreachableError within `timeout` seconds if the Hub endpoint cannot be reached."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise HubUnreachableError("HF_HUB_OFFLINE is set")
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        raise HubUnreachableError(f"{host}:{port} is unreachable ({err.__class__.__name__}: {err})") from None


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: str = "model",
    private: bool = False,
    commit_message: str = "Upload with dnalm-assess",
    token: str | None = None,
) -> str:
    """Create `repo_id` if needed and upload `folder` to it; returns the commit URL.

    `token` (e.g. `--hub_token`) is used in memory only; without it huggingface_hub's own login applies."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"nothing to push: {folder} is not a folder")
    try:
        check_hub_reachable()
    except HubUnreachableError as err:
        raise HubUnreachableError(_offline_help(folder, repo_id, repo_type, str(err))) from None
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=commit_message
        )
    except Exception as err:  # auth, permissions, network drop: same advice, with the cause
        raise HubUnreachableError(_offline_help(folder, repo_id, repo_type, f"{type(err).__name__}: {err}")) from err
    return str(info)
