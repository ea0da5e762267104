"""A process killed mid-run leaves its run `interrupted` at the next start, never missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlmodel import select

from evofuse.ports import RunInfo
from evofuse.store import Store
from evofuse.store.recorder import SqlRunRecorder
from evofuse.store.runs import RunRow

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {repo!r})
    import tests.conftest  # offline LiteLLM settings
    import respx
    from tests.unit.conftest import FakePool
    from evofuse.testing import judge_reply
    from evofuse.runtime.runner import Runner
    from evofuse.store import Store
    from evofuse.store.recorder import SqlRunRecorder

    async def main():
        with respx.mock(assert_all_called=False) as router:
            pool = FakePool(router)
            pool.model("m1", content="slow", delay_s=600)  # the model never answers in time
            pool.model("m2", content="slow", delay_s=600)
            pool.model("j", content=judge_reply(answer="x"))
            settings = pool.settings(
                {{"timeout_s": 900}},
                storage={{"database_url": {url!r}, "chroma": {chroma!r}}},
                graphs={graphs!r},
            )
            store = Store({url!r})
            async with Runner(settings, recorder=SqlRunRecorder(store)) as runner:
                await runner.run("assistant", "never finishes", run_id="doomed-run")

    asyncio.run(main())
    """
)


def test_killed_process_leaves_an_interrupted_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/evofuse.db"
    script = CHILD.format(
        repo=str(REPO),
        url=url,
        chroma=str(tmp_path / "chroma"),
        graphs=str(REPO / "langgraph.json"),
    )
    log = tmp_path / "child.log"
    with log.open("w") as sink:
        child = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stderr=sink)
    store = Store(url)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with store.session() as session:
                run = session.get(RunRow, "doomed-run")
            if run is not None:
                break
            assert child.poll() is None, log.read_text()
            time.sleep(0.2)
        else:
            raise AssertionError("the run was never recorded as running")
        assert run.status == "running"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)

        assert SqlRunRecorder(store).mark_interrupted() == 1
        with store.session() as session:
            run = session.exec(select(RunRow).where(RunRow.id == "doomed-run")).one()
        assert run.status == "interrupted" and run.finished_at is not None
        assert str(child.pid) in (run.error or "")
        assert SqlRunRecorder(store).mark_interrupted() == 0  # idempotent
    finally:
        if child.poll() is None:
            child.kill()
        store.close()


def test_a_live_run_of_this_process_is_not_interrupted(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/evofuse.db")
    recorder = SqlRunRecorder(store)
    recorder.start("live-run", RunInfo())
    assert recorder.mark_interrupted() == 0
    store.close()
