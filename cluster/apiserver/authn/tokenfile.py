"""Static bearer tokens from a CSV file (``--token-auth-file``): ``token,user,uid,"group1,group2"``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from cluster.apiserver.auth import UserInfo
from cluster.apiserver.authn import TokenResult


class StaticTokens:
    """Tokens read once from a file; a token not in it is not ours (None)."""

    def __init__(self, users: dict[str, UserInfo]) -> None:
        self._users = users

    @classmethod
    def from_file(cls, path: str | Path) -> StaticTokens:
        """Parse the CSV; ``ValueError`` names the line of a malformed entry (never the token)."""
        users: dict[str, UserInfo] = {}
        with open(path, newline="") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                if not row or row[0].startswith("#") or not "".join(row).strip():
                    continue
                if len(row) < 3 or not row[0].strip() or not row[1].strip():
                    raise ValueError(f"{path}: line {number}: expected token,user,uid[,groups]")
                groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
                users[row[0].strip()] = UserInfo(row[1].strip(), row[2].strip(), groups)
        return cls(users)

    def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResult | None:
        user = self._users.get(token)
        if user is None:
            return None
        return TokenResult(user, tuple(audiences))
