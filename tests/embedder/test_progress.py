"""Progress off a terminal is plain lines (a log showed nothing for minutes under tqdm's redraws)."""

from __future__ import annotations

import pytest

from embedder import progress as progress_module
from embedder.progress import LineProgress, progress_bar


def test_off_a_terminal_progress_is_lines_with_rate_and_time_left(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress_module, "LOG_INTERVAL_S", 0.0)
    bar = progress_bar(range(4), desc="embedding queries", unit="img")
    assert isinstance(bar, LineProgress)  # pytest's stderr is not a terminal
    assert list(bar) == [0, 1, 2, 3]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("embedding queries: 1/4 (25%)") and "s left" in lines[0]
    assert lines[-1].startswith("embedding queries: 4/4 (100%)")
    assert len(lines) == 4  # one per step; the end repeats nothing
    with progress_bar(total=10, desc="train", unit="batch") as counted:
        counted.set_postfix(loss="0.5")
        counted.update(10)
    assert capsys.readouterr().err.splitlines()[-1].endswith("loss=0.5")
