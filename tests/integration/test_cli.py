"""The `agencyhub` command as a newcomer uses it: the demo, tenant files, the database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT

AGENCYHUB = [sys.executable, "-m", "agencyhub.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AGENCYHUB, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def demo_server(data_dir: Path) -> Iterator[tuple[str, list[str]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENCYHUB_")}
    process = subprocess.Popen(
        [*AGENCYHUB, "demo", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    "demo exited early:\n" + (process.stdout.read() if process.stdout else "")
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("demo did not answer /healthz within 90 s")
        yield base, output
    finally:
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        output.append(out)


def sign_in(base: str, email: str, password: str = "demo") -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrfToken"]
    return client


def test_the_demo_serves_the_demo_tenants_and_keeps_its_data(tmp_path):
    data_dir = tmp_path / "var"
    with demo_server(data_dir) as (base, output):
        owner = sign_in(base, "owner@nordlicht.example")
        me = owner.get("/api/v1/me").json()
        agency_id = me["memberships"][0]["agencyId"]
        clients = owner.get(f"/api/v1/agencies/{agency_id}/clients").json()["items"]
        assert {c["slug"] for c in clients} == {"baeckerei-sonnenschein", "stadtwerke-musterstadt"}
        bakery = next(c["id"] for c in clients if c["slug"] == "baeckerei-sonnenschein")
        approver = sign_in(base, "freigabe@sonnenschein.example")
        queue = approver.get(f"/api/v1/clients/{bakery}/drafts", params={"status": "pending"})
        assert queue.status_code == 200, queue.text
        assert queue.json()["items"], "the demo queue is alive on first start"
        created = owner.post(
            f"/api/v1/agencies/{agency_id}/clients", json={"slug": "neu", "name": "Neu"}
        )
        assert created.status_code == 201
        other = sign_in(base, "owner@wellenreiter.example")
        assert other.get(f"/api/v1/agencies/{agency_id}/clients").status_code == 404
        assert "<title>AgencyHub</title>" in httpx.get(base + "/").text
    printed = "".join(output)
    assert "owner@nordlicht.example" in printed
    assert "password for every login above: demo" in printed
    assert "demo content: seeded Bäckerei Sonnenschein" in printed

    with demo_server(data_dir) as (base, output):
        owner = sign_in(base, "owner@nordlicht.example")
        clients = owner.get(f"/api/v1/agencies/{agency_id}/clients").json()["items"]
        assert "neu" in {c["slug"] for c in clients}
    assert "no changes" in "".join(output)
    assert "demo content: nothing to seed" in "".join(output)


def test_tenants_validate_reports_file_and_line(tmp_path):
    assert (
        run("tenants", "validate", "tenants/nordlicht.toml", "tenants/wellenreiter.toml").returncode
        == 0
    )
    broken = tmp_path / "broken.toml"
    lines = ["[agency]", 'slug = "Broken Slug"', 'name = "X"', "", "[[people]]"]
    lines += ['email = "a@b.example"', 'role = "boss"']
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("tenants", "validate", str(broken))
    assert result.returncode == 1
    assert f"{broken}:2:" in result.stderr
    assert f"{broken}:7:" in result.stderr


def test_db_and_tenants_commands_on_sqlite(tmp_path):
    env = {"AGENCYHUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    upgraded = run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at" in upgraded.stdout
    planned = run("tenants", "apply", "--dry-run", "tenants/wellenreiter.toml", env=env)
    assert planned.returncode == 0, planned.stderr
    assert "would make" in planned.stdout
    assert "dry run: nothing was changed" in planned.stdout
    applied = run("tenants", "apply", "tenants/wellenreiter.toml", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "change(s)" in applied.stdout
    again = run("tenants", "apply", "tenants/wellenreiter.toml", env=env)
    assert "no changes" in again.stdout
    alone = tmp_path / "wellenreiter.toml"
    alone.write_text(
        (REPO_ROOT / "tenants" / "wellenreiter.toml")
        .read_text(encoding="utf-8")
        .replace('email = "freigabe@alpenhof.example"', 'email = "neu@alpenhof.example"'),
        encoding="utf-8",
    )
    pruned = run("tenants", "apply", "--prune", str(alone), env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "--prune removes 1 thing(s)" in pruned.stdout
    assert "removed freigabe@alpenhof.example (approver)" in pruned.stdout
    exported = run("tenants", "export", "wellenreiter", env=env)
    assert exported.returncode == 0
    assert 'slug = "alpenhof"' in exported.stdout
    assert "[demo]" not in exported.stdout
    assert 'demo"' not in exported.stdout
    missing = run("tenants", "export", "nobody", env=env)
    assert missing.returncode != 0
    downgraded = run("db", "downgrade", "-1", env=env)
    assert downgraded.returncode == 0, downgraded.stderr


def test_worker_needs_a_broker():
    result = run("worker", env={"AGENCYHUB_REDIS_URL": ""})
    assert result.returncode != 0
    assert "AGENCYHUB_REDIS_URL" in result.stderr
