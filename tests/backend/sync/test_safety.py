"""Sync under failure: one at a time across processes, killed mid-way, drift detection."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from backend.catalog.database import transaction
from backend.catalog.schema import SyncStatus
from backend.demo.sample_catalog import write_sample_catalog
from backend.errors import Conflict
from backend.sync.lock import sync_lock
from backend.sync.report import STATUS_ROW, SyncProgress
from backend.vectors.types import IndexPoint, PayloadUpdate
from backend.wiring import Services


def test_sync_lock_excludes_a_second_holder(settings_lock_target: tuple[str, Path]) -> None:
    url, data_dir = settings_lock_target
    engine = create_engine(url)
    other = create_engine(url)  # a second pool: as another process would have
    with (
        sync_lock(engine, data_dir),
        pytest.raises(Conflict, match="another sync is running"),
        sync_lock(other, data_dir),
    ):
        pass
    with sync_lock(other, data_dir):  # released after the block
        pass
    engine.dispose()
    other.dispose()


@pytest.fixture
def settings_lock_target(database_url: str, tmp_path: Path) -> tuple[str, Path]:
    return database_url, tmp_path


def test_drift_check_reports_each_kind_then_sync_repairs(services: Services, tmp_path: Path) -> None:

    catalog_file = write_sample_catalog(tmp_path / "sample")
    services.catalog.import_file(catalog_file, tmp_path / "sample" / "images")
    assert services.sync.check().drift()["missing_points"] == 48
    services.sync.run()
    assert not any(services.sync.check().drift().values())
    collection = services.search.collection()
    services.store.delete(collection, [1])
    services.store.update_payloads(collection, [PayloadUpdate([2], {"price": 123.0})])
    vector = services.store.vectors(collection, [3])[3]
    services.store.upsert(collection, [IndexPoint(999, vector, {"product_id": 999, "model": "old"})])
    drift = services.sync.check().drift()
    assert (drift["missing_points"], drift["stale_payloads"], drift["orphan_points"]) == (1, 1, 1)
    report = services.sync.run()
    assert (report.embedded + report.reused, report.payload_updated, report.deleted) == (1, 1, 1)
    assert not any(services.sync.check().drift().values())


def test_admin_sync_status_and_drift_endpoints(services: Services, tmp_path: Path) -> None:
    from backend.app import create_app
    from tests.backend.conftest import ADMIN_TOKEN

    client = create_app(services=services).test_client()
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    status = client.get("/admin/sync", headers=headers).json
    assert status == {**status, "running": False, "last_report": None}  # type: ignore[dict-item]
    client.post("/admin/sync", headers=headers)
    status = client.get("/admin/sync", headers=headers).json
    assert status["last_report"]["unchanged"] == 0  # type: ignore[index]
    drift = client.get("/admin/sync/drift", headers=headers).json
    assert drift["in_sync"] is True  # type: ignore[index]


def test_sync_killed_mid_way_is_finished_by_the_next_run(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VITRINE_DATA_DIR": str(tmp_path / "data"),
        "VITRINE_EMBED_BATCH_SIZE": "8",
    }
    env.pop("DATABASE_URL", None)
    env.pop("QDRANT_URL", None)
    env.pop("VITRINE_EMBEDDED_ENGINE", None)  # the default engine, Qdrant Edge

    def vitrine(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli", *arguments],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    catalog_file = write_sample_catalog(tmp_path / "sample")
    assert vitrine("migrate").returncode == 0
    assert (
        vitrine("import", str(catalog_file), "--images", str(tmp_path / "sample" / "images")).returncode == 0
    )

    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.strip().startswith("embed:"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    check = vitrine("sync", "--check")
    assert check.returncode == 1, check.stderr
    drift = json.loads(check.stdout)
    assert 0 < drift["missing_points"] < 48, drift

    finished = vitrine("sync")
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["embedded"] == drift["missing_points"]
    assert report["deleted"] == 0

    final = vitrine("sync", "--check")
    assert final.returncode == 0, final.stdout
    final_drift = json.loads(final.stdout)
    assert final_drift.pop("in_sync") is True and not any(final_drift.values())


def test_sync_status_is_the_same_whichever_process_asks(services: Services, tmp_path: Path) -> None:
    """Each gunicorn worker reported only its own sync (one said stage "", another "idle"); the
    status is now kept in the database, so another process's SyncProgress reads the same."""
    other_worker = SyncProgress(services.sessions)
    assert other_worker.to_dict()["stage"] == "idle" and other_worker.to_dict()["last_report"] is None
    catalog_file = write_sample_catalog(tmp_path / "sample")
    services.catalog.import_file(catalog_file, tmp_path / "sample" / "images")
    seen: list[dict[str, object]] = []
    services.sync.run(progress=lambda _stage, _done, _total: seen.append(other_worker.to_dict()))
    assert any(status["running"] and status["stage"] == "embed" for status in seen), seen[-3:]
    status = other_worker.to_dict()
    assert status == services.sync.progress.to_dict()
    assert status["running"] is False and status["stage"] == "idle"
    assert status["last_report"]["embedded"] == 48  # type: ignore[index]


def test_a_sync_whose_process_died_reads_as_interrupted(services: Services) -> None:
    progress = services.sync.progress
    progress.start()
    with transaction(services.sessions) as session:  # as if a process of this host had been killed
        row = session.get(SyncStatus, STATUS_ROW)
        assert row is not None
        row.owner = f"{socket.gethostname()}:{2**22 + 12345}"
    status = SyncProgress(services.sessions).to_dict()
    assert (status["running"], status["stage"]) == (False, "interrupted")
