"""The blog's git wrapper: environment (no prompts, identity, token header), errors, timeouts and pushes."""

from __future__ import annotations

import base64
import subprocess

import pytest

from legacy_core.blog.errors import GitError, GitTimeout, PushRejected
from legacy_core.blog.git import Git, GitIdentity, auth_config, git_env
from tests.fixtures.gitremote import git


def _settings(env):
    count = int(env["GIT_CONFIG_COUNT"])
    return {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}


def test_git_env_disables_prompts_and_sets_the_identity():
    env = git_env({"PATH": "/usr/bin"}, identity=GitIdentity("Blog Bot", "bot@example.test"))
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["PATH"] == "/usr/bin"
    assert (env["GIT_AUTHOR_NAME"], env["GIT_COMMITTER_EMAIL"]) == ("Blog Bot", "bot@example.test")
    settings = _settings(env)
    assert settings["protocol.allow"] == "never"
    assert settings["protocol.file.allow"] == "always"
    assert "protocol.ext.allow" not in settings


def test_git_env_appends_to_settings_already_in_the_environment():
    env = git_env({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.x", "GIT_CONFIG_VALUE_0": "1"})
    assert _settings(env)["core.x"] == "1"
    assert _settings(env)["commit.gpgSign"] == "false"


def test_auth_config_sends_the_token_to_that_https_host_only():
    config = auth_config("https://github.com/owner/blog.git", "tok-123")
    assert list(config) == ["http.https://github.com/.extraHeader"]
    header = config["http.https://github.com/.extraHeader"]
    assert header.startswith("Authorization: Basic ")
    assert base64.b64decode(header.split()[-1]).decode() == "x-access-token:tok-123"
    assert auth_config("file:///srv/blog.git", "tok-123") == {}
    assert auth_config("git@github.com:owner/blog.git", "tok-123") == {}
    assert auth_config("https://github.com/owner/blog.git", "") == {}
    env = git_env({}, remote_url="https://github.com/owner/blog.git", token="tok-123")
    assert _settings(env)["http.https://github.com/.extraHeader"] == header
    assert "tok-123" not in " ".join(env.values())  # only its base64 form, in one setting, in the environment


def test_git_error_carries_gits_reason_and_never_the_token(tmp_path):
    runner = Git(tmp_path, token="tok-secret-123", remote_url="https://example.test/x.git")
    with pytest.raises(GitError) as caught:
        runner.run("rev-parse", "--verify", "HEAD")
    assert "not a git repository" in caught.value.reason
    assert caught.value.returncode == 128
    assert "tok-secret-123" not in str(caught.value)


def test_git_reason_redacts_a_token_git_echoes(tmp_path):
    runner = Git(tmp_path, token="tok-secret-123")
    with pytest.raises(GitError) as caught:
        runner.run("ls-remote", "--", "tok-secret-123")  # git quotes the bad "repository" in its message
    assert "tok-secret-123" not in str(caught.value)
    assert "'***' does not appear to be a git repository" in caught.value.reason


def test_git_timeout_kills_the_command_and_says_so(tmp_path):
    runner = Git(tmp_path, executable="sleep")  # stands in for a git that hangs on a dead remote
    with pytest.raises(GitTimeout) as caught:
        runner.run("30", timeout=0.2)
    assert caught.value.returncode is None
    assert "no answer within 0.2 s" in str(caught.value)


def test_git_missing_executable_is_a_clear_error(tmp_path):
    with pytest.raises(GitError, match="is git installed"):
        Git(tmp_path, executable=str(tmp_path / "no-git")).run("status")


def test_git_remote_branches_lists_heads(gitremote, tmp_path):
    assert Git(tmp_path).remote_branches(gitremote.url) == ["main"]


def test_git_push_rejected_when_the_remote_moved_on(gitremote, tmp_path):
    clone = tmp_path / "clone"
    identity = GitIdentity("Blog Bot", "bot@example.test")
    Git(tmp_path).clone(gitremote.url, clone, "main")
    gitremote.commit_elsewhere("other.md", "---\ntitle: Other\n---\n")
    runner = Git(clone, identity=identity)
    (clone / "new.md").write_text("x", encoding="utf-8")
    runner.stage(["new.md"])
    runner.commit("Publish new.md", ["new.md"])
    with pytest.raises(PushRejected) as caught:
        runner.push("main")
    assert "fetch first" in caught.value.reason or "non-fast-forward" in caught.value.reason


def test_git_commit_uses_the_given_identity_without_any_global_config(gitremote, tmp_path):
    global_name = subprocess.run(["git", "config", "--get", "user.name"], capture_output=True, check=False)
    assert global_name.returncode == 1  # the fixture removed every global identity
    clone = tmp_path / "clone"
    Git(tmp_path).clone(gitremote.url, clone, "main")
    runner = Git(clone, identity=GitIdentity("Blog Bot", "bot@example.test"))
    (clone / "new.md").write_text("x", encoding="utf-8")
    runner.stage(["new.md"])
    sha = runner.commit("Publish new.md", ["new.md"])
    assert git("log", "-1", "--format=%H %an <%ae> %cn", cwd=clone).strip() == (
        f"{sha} Blog Bot <bot@example.test> Blog Bot"
    )
