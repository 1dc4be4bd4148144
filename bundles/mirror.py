"""Rewrite a job's repository URL to the cluster's git mirror; keep credentials out of text.

Every fetch goes through the mirror (contract §1 `AGENTRUN_GIT_MIRROR_URL`): a GitHub URL
`https://github.com/OWNER/REPO(.git)(/)` or `git@github.com:OWNER/REPO.git` becomes
`{mirror}/OWNER/REPO.git`; a URL already under the mirror base is used as given; anything
else is `job-spec-invalid`. There is no direct-GitHub fallback and no job-spec switch.
URLs may carry userinfo (`https://user:token@…`); `display_url` strips it and `redact`
removes it from any text (git's messages) before it reaches an event, a log line or an
exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from contract.failures import JobSpecError

__all__ = ["MirrorTarget", "display_url", "redact", "resolve_fetch_url", "write_target"]

_GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SCP_GITHUB = re.compile(r"^(?:[^@/\s]+@)?github\.com:(?P<path>[^\s]+)$", re.IGNORECASE)
_USERINFO_IN_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


@dataclass(frozen=True)
class MirrorTarget:
    """Where one repository is fetched from.

    Attributes:
        fetch_url: the URL git fetches (may carry credentials; never print it).
        display_url: `fetch_url` without userinfo (`fetchRepoUrl` of §9).
        repo_url: the job spec's URL without userinfo (`repoUrl` of §9).
        mirror_base_url: the mirror base without userinfo or trailing slash.
        repo_key: `OWNER/REPO` for a GitHub URL, else the path under the mirror base;
            identifies the repository for the per-attempt object store.
    """

    fetch_url: str
    display_url: str
    repo_url: str
    mirror_base_url: str
    repo_key: str

    def url_rewrite(self) -> dict[str, str]:
        """git config that sends the display URL to the credential-carrying one.

        `{"url.<fetch_url>.insteadOf": display_url}`, empty when they are the same; pass
        it as `run_git(..., secret_config=...)` (the environment, never argv), so argv
        and gitpython's debug log show the display URL only.
        """
        if self.fetch_url == self.display_url:
            return {}
        return {f"url.{self.fetch_url}.insteadOf": self.display_url}


def display_url(url: str) -> str:
    """`url` without userinfo: `https://u:t@host/x` → `https://host/x`.

    Text that is not a URL with a scheme is returned with any `user@` prefix of an
    scp-like form (`git@github.com:o/r`) kept, since that carries no secret.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if not parts.scheme or not parts.netloc:
        return redact(url)
    return urlunsplit(_without_userinfo(parts))


def redact(text: str, *secrets: str) -> str:
    """Remove URL userinfo (`scheme://user:pass@`) and the given literal secrets from text.

    Args:
        text: any text, e.g. git's stderr.
        secrets: extra literal strings to replace by `***` (e.g. a URL's password).
    """
    cleaned = _USERINFO_IN_URL.sub(lambda m: m.group("scheme"), text)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "***")
    return cleaned


def url_secrets(url: str) -> tuple[str, ...]:
    """The userinfo pieces of a URL (user, password, both), for `redact`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    userinfo, found, _host = parts.netloc.rpartition("@")
    if not found or not userinfo:
        return ()
    pieces = [userinfo, *userinfo.split(":", 1)]
    return tuple(sorted({p for p in pieces if len(p) >= 3}, key=len, reverse=True))


def _without_userinfo(parts: SplitResult) -> SplitResult:
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host)


def _normalized_base(mirror_base_url: str) -> SplitResult:
    try:
        parts = urlsplit(mirror_base_url.strip())
    except ValueError as exc:
        raise JobSpecError("AGENTRUN_GIT_MIRROR_URL is not a URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JobSpecError(
            "AGENTRUN_GIT_MIRROR_URL must be an http(s) URL",
            detail={"mirrorBaseUrl": display_url(mirror_base_url)},
        )
    return parts._replace(path=parts.path.rstrip("/"), query="", fragment="")


def _github_owner_repo(url: str) -> tuple[str, str] | None:
    """`(OWNER, REPO)` of a GitHub URL, None if it is not a GitHub URL at all.

    Raises:
        JobSpecError: it is a GitHub URL but not of a repository (extra path, query).
    """
    scp = _SCP_GITHUB.match(url)
    if scp and "://" not in url:
        path = scp.group("path")
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http", "ssh", "git") or host not in _GITHUB_HOSTS:
            return None
        if parts.query or parts.fragment:
            raise JobSpecError(
                "repoUrl must name a repository, without query or fragment",
                detail={"repoUrl": display_url(url)},
            )
        path = parts.path
    segments = [s for s in path.strip("/").split("/") if s]
    if len(segments) != 2:
        raise JobSpecError(
            "a GitHub repoUrl must be https://github.com/OWNER/REPO",
            detail={"repoUrl": display_url(url)},
        )
    owner, repo = segments
    repo = repo.removesuffix(".git")
    if not _OWNER.match(owner) or not _REPO.match(repo) or repo in (".", ".."):
        raise JobSpecError(
            "a GitHub repoUrl must be https://github.com/OWNER/REPO",
            detail={"repoUrl": display_url(url)},
        )
    return owner, repo


def resolve_fetch_url(repo_url: str, mirror_base_url: str) -> MirrorTarget:
    """Map a job's `repoUrl` to the mirror URL it is fetched from (contract §1).

    Args:
        repo_url: the job spec's URL: `https://github.com/OWNER/REPO`, with or without
            `.git` or a trailing slash, `git@github.com:OWNER/REPO.git`, or a URL under
            the mirror base. May carry userinfo.
        mirror_base_url: `AGENTRUN_GIT_MIRROR_URL`, e.g. `http://git-mirror-http.svc`.

    Returns:
        The fetch URL and its credential-free display forms.

    Raises:
        JobSpecError: `job-spec-invalid` for a URL that is neither GitHub nor under the
            mirror base, a malformed GitHub URL, or a mirror base that is not http(s).
            Messages carry display URLs only.
    """
    base = _normalized_base(mirror_base_url)
    base_display = urlunsplit(_without_userinfo(base))
    shown = display_url(repo_url)
    github = _github_owner_repo(repo_url.strip())
    if github is not None:
        owner, repo = github
        fetch_url = f"{urlunsplit(base)}/{owner}/{repo}.git"
        return MirrorTarget(
            fetch_url=fetch_url,
            display_url=display_url(fetch_url),
            repo_url=shown,
            mirror_base_url=base_display,
            repo_key=f"{owner}/{repo}",
        )
    try:
        parts = urlsplit(repo_url.strip())
    except ValueError as exc:
        raise JobSpecError("repoUrl is not a URL", detail={"repoUrl": shown}) from exc
    same_origin = (
        parts.scheme == base.scheme
        and (parts.hostname or "").lower() == (base.hostname or "").lower()
        and parts.port == base.port
    )
    under_base = parts.path.startswith(f"{base.path}/") and len(parts.path) > len(base.path) + 1
    if same_origin and under_base and not parts.query and not parts.fragment:
        key = parts.path[len(base.path) :].strip("/").removesuffix(".git")
        if ".." in key.split("/"):
            raise JobSpecError("repoUrl must not contain '..'", detail={"repoUrl": shown})
        return MirrorTarget(
            fetch_url=repo_url.strip(),
            display_url=shown,
            repo_url=shown,
            mirror_base_url=base_display,
            repo_key=key,
        )
    raise JobSpecError(
        "repoUrl must be a GitHub repository URL or a URL under the git mirror",
        detail={"repoUrl": shown, "mirrorBaseUrl": base_display},
    )


def write_target(read: MirrorTarget, write_base_url: str) -> MirrorTarget:
    """The mirror's write side of the repository `read` fetches (§1: same OWNER/REPO).

    Args:
        read: the repository's read target, from `resolve_fetch_url`.
        write_base_url: `AGENTRUN_GIT_MIRROR_WRITE_URL` (may carry userinfo).

    Returns:
        `{write base}/{repo_key}.git` and its credential-free display form.

    Raises:
        JobSpecError: the write base is not an http(s) URL.
    """
    base = _normalized_base(write_base_url)
    push_url = f"{urlunsplit(base)}/{read.repo_key}.git"
    return MirrorTarget(
        fetch_url=push_url,
        display_url=display_url(push_url),
        repo_url=read.repo_url,
        mirror_base_url=urlunsplit(_without_userinfo(base)),
        repo_key=read.repo_key,
    )
