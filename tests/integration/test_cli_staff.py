"""The staff commands of the CLI, run in-process through ``service.cli.main.main``: listing and
revoking tokens, disabling and enabling users, the staff audit; the checks that
``create-token`` and ``create-user`` reach the database ``serve`` uses and name sites that
exist; ``--version`` and the wording of what they print."""

from __future__ import annotations

import asyncio
import io
from importlib.metadata import version
from pathlib import Path

import asyncpg
import pytest

from service.cli.main import main
from service.settings import Settings
from tests.pages_support import PASSWORD

Capture = pytest.CaptureFixture[str]


async def _sql(settings: Settings, statement: str) -> list[asyncpg.Record]:
    assert settings.database_url is not None
    conn = await asyncpg.connect(settings.database_url)
    try:
        return list(await conn.fetch(statement))
    finally:
        await conn.close()


def _query(settings: Settings, statement: str) -> list[asyncpg.Record]:
    return asyncio.run(_sql(settings, statement))


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The CLI pointed at this test's database, run from an empty folder, with a site."""
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.chdir(tmp_path)
    _query(settings, "INSERT INTO sites (id, name) VALUES ('daily', 'The Daily')")
    return settings


def _run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- tokens -----------------------------------------------------------------------------------


def test_cli_tokens__create_list_revoke(cli_env: Settings, capsys: Capture) -> None:
    code, out, _ = _run(capsys, "create-token", "--role", "admin", "--label", "ed")
    assert code == 0
    assert out.startswith("Created an admin token for every site.")
    secret = out.strip().splitlines()[-1]
    code, out, _ = _run(capsys, "create-token", "--role", "moderator", "--site", "daily")
    assert code == 0 and out.startswith("Created a moderator token for daily.")

    code, out, _ = _run(capsys, "list-tokens")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "ROLE",
        "SITES",
        "LABEL",
        "CREATED",
        "LAST",
        "USED",
        "REVOKED",
    ]
    assert lines[1].split()[:4] == ["1", "admin", "every", "site"]
    assert lines[2].split()[:4] == ["2", "moderator", "daily", "-"]
    assert secret not in out

    code, out, _ = _run(capsys, "revoke-token", "1")
    assert (code, out) == (0, "Revoked token 1 (ed): it is refused from now on.\n")
    code, out, _ = _run(capsys, "revoke-token", "1")
    assert code == 0 and "was already revoked" in out
    code, _, err = _run(capsys, "revoke-token", "99")
    assert code == 1 and "No token 99" in err and "list-tokens" in err
    [row] = _query(cli_env, "SELECT revoked_at FROM api_tokens WHERE id = 1")
    assert row["revoked_at"] is not None
    audit = _query(cli_env, "SELECT action, target, actor FROM staff_audit ORDER BY id")
    assert [(r["action"], r["target"]) for r in audit] == [
        ("token.created", "token:1"),
        ("token.created", "token:2"),
        ("token.revoked", "token:1"),
    ]
    assert all(r["actor"].startswith("cli") for r in audit)


def test_cli_create_token__a_site_must_exist(cli_env: Settings, capsys: Capture) -> None:
    code, _, err = _run(capsys, "create-token", "--role", "moderator", "--site", "nope")
    assert code == 2
    assert "no site 'nope'" in err
    assert "Sites that exist: daily." in err
    assert "PUT /v1/sites/nope" in err
    assert _query(cli_env, "SELECT id FROM api_tokens") == []
    code, _, err = _run(capsys, "create-token", "--role", "admin", "--site", "daily")
    assert code == 0


# --- users ------------------------------------------------------------------------------------


def test_cli_users__disable_ends_sessions_enable_restores(
    cli_env: Settings, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    code, out, err = _run(capsys, "create-user", "ann", "--role", "moderator", "--site", "daily")
    assert code == 0, err
    _query(
        cli_env,
        "INSERT INTO user_sessions (id_hash, user_id, expires_at)"
        " SELECT '\\x01', id, now() + interval '1 hour' FROM users",
    )
    code, out, _ = _run(capsys, "list-users")
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["ann", "moderator", "daily"]

    code, out, _ = _run(capsys, "disable-user", "Ann")
    assert (code, out) == (0, "Disabled ann: they cannot sign in, and their sessions have ended.\n")
    assert _query(cli_env, "SELECT 1 FROM user_sessions") == []
    [row] = _query(cli_env, "SELECT disabled_at FROM users")
    assert row["disabled_at"] is not None
    code, out, _ = _run(capsys, "disable-user", "ann")
    assert (code, out) == (0, "ann was already disabled.\n")
    code, out, _ = _run(capsys, "enable-user", "ann")
    assert (code, out) == (0, "Enabled ann: they may sign in again.\n")
    code, _, err = _run(capsys, "enable-user", "bob")
    assert code == 1 and "No user 'bob'" in err

    code, out, _ = _run(capsys, "staff-audit")
    assert code == 0
    actions = [line.split()[2] for line in out.splitlines()[1:]]
    assert actions == ["user.enabled", "user.disabled", "user.created"]


def test_cli_create_user__a_site_must_exist_before_the_password_is_asked(
    cli_env: Settings, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    stdin = io.StringIO(f"{PASSWORD}\n")
    monkeypatch.setattr("sys.stdin", stdin)
    code, _, err = _run(capsys, "create-user", "ann", "--role", "moderator", "--site", "nope")
    assert code == 2 and "no site 'nope'" in err
    assert stdin.tell() == 0, "the password was read although the site does not exist"
    assert _query(cli_env, "SELECT id FROM users") == []


# --- another folder -----------------------------------------------------------------------


ADMIN_COMMANDS = [
    ["create-token", "--role", "admin"],
    ["create-user", "ann", "--role", "admin", "--password-stdin"],
    ["list-tokens"],
    ["revoke-token", "1"],
    ["list-users"],
    ["disable-user", "ann"],
    ["enable-user", "ann"],
    ["staff-audit"],
    ["export-author", "--email", "a@example.com"],
    ["erase-author", "--email", "a@example.com"],
]


@pytest.mark.parametrize("argv", ADMIN_COMMANDS, ids=[a[0] for a in ADMIN_COMMANDS])
def test_cli__from_another_folder_makes_no_database_and_says_how_to_point_it(
    argv: list[str], capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REPLYGUARD_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert str(tmp_path / "replyguard-data" / "postgres") in err
    assert "REPLYGUARD_DATA_DIR" in err and "DATABASE_URL" in err
    assert "Nothing was created" in err
    assert list(tmp_path.iterdir()) == []


def test_cli__a_data_dir_without_a_database_is_refused_too(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "elsewhere"
    (data / "models").mkdir(parents=True)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("REPLYGUARD_DATA_DIR", str(data))
    code, _, err = _run(capsys, "create-token", "--role", "admin")
    assert code == 2
    assert str(data / "postgres") in err
    assert not (data / "postgres").exists()


# --- version ----------------------------------------------------------------------------------


def test_cli__version(capsys: Capture) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"replyguard {version('replyguard')}\n"
