"""dbt imported once in Luigi's scheduling process for the dbt task processes it forks, the parses
planned for the dbt tasks still to run, and the collector paused during an invocation
(pipeline/lib/dbt.py). The fork cases run in a fresh interpreter each: a fork hook, once registered,
stays for the life of the process. What a forked task does with a parse: test_dbt_parse_handover.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run_python(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dbt_is_imported_after_the_next_fork_in_the_parent_only(tmp_path):
    got = run_python(
        f"""
        import gc, json, os, sys
        from pathlib import Path
        import pipeline.lib.dbt as dbt

        # No project there: the parse fails, and the task will parse itself.
        project, work = Path({str(tmp_path / "none")!r}), Path({str(tmp_path / "work")!r})
        request = dbt.ParseRequest(project, work, None, {{}})

        def fork_and_ask():
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(write, b"1" if "dbt.cli.main" in sys.modules else b"0")
                os._exit(0)
            os.waitpid(pid, 0)
            return os.read(read, 1) == b"1"

        dbt.parse_after_next_fork("warehouse", request)
        before = "dbt.cli.main" in sys.modules
        first_child_had_dbt = fork_and_ask()
        after = "dbt.cli.main" in sys.modules
        second_child_had_dbt = fork_and_ask()
        print(json.dumps({{"before": before, "first": first_child_had_dbt, "after": after,
                          "second": second_child_had_dbt, "frozen": gc.get_freeze_count(),
                          "parses": len(dbt._parses)}}))
        """
    )
    # Not at once, not in the task forked first (it runs meanwhile), then in every later fork.
    assert got["before"] is False
    assert got["first"] is False
    assert got["after"] is True
    assert got["second"] is True
    assert got["frozen"] > 0
    # A parse that fails in the fork hook is left to the task, which reports it.
    assert got["parses"] == 0


def test_a_dbt_task_still_to_run_after_another_asks_for_its_parse(tmp_path):
    got = run_python(
        f"""
        import json, os, luigi
        os.environ["PIPELINE_DATA_DIR"] = {str(tmp_path)!r}
        import pipeline.lib.dbt as dbt
        from pipeline.tasks import BuildWarehouse, ConvertWorkbookToParquet, PublishToPostgres, VerifyPostgres

        class Done(luigi.Task):
            def complete(self):
                return True

        class NotToBeAsked(luigi.Task):
            def complete(self):
                raise AssertionError("asked again once the import was planned")

        def asks(task, dependency):
            task.trigger_event(luigi.Event.DEPENDENCY_DISCOVERED, task, dependency)
            return {{name: dbt.parse_planned(name) for name in ("warehouse", "olap")}}

        seen = {{
            # Not a dbt task.
            "convert": asks(ConvertWorkbookToParquet(workbook="a.xlsx"), Done()),
            "publish": asks(PublishToPostgres(source="a.xlsx"), BuildWarehouse(source="a.xlsx")),
            # A dbt task whose dependency is done runs first, and imports and parses itself.
            "build after done": asks(BuildWarehouse(source="a.xlsx"), Done()),
            "verify after done": asks(VerifyPostgres(source="a.xlsx"), Done()),
            # Its dependency runs first (a conversion not done): dbt comes in meanwhile.
            "build after convert": asks(BuildWarehouse(source="a.xlsx"),
                                        ConvertWorkbookToParquet(workbook="a.xlsx")),
            # Planned once: the other exports' conversions are not asked again.
            "build once planned": asks(BuildWarehouse(source="a.xlsx"), NotToBeAsked()),
            "importer": dbt._preparer == os.getpid(),
        }}
        print(json.dumps(seen))
        """
    )
    neither, warehouse = {"warehouse": False, "olap": False}, {"warehouse": True, "olap": False}
    assert got == {
        "convert": neither,
        "publish": neither,
        "build after done": neither,
        "verify after done": neither,
        "build after convert": warehouse,
        "build once planned": warehouse,
        "importer": True,
    }


def test_verification_after_a_publish_still_to_run_asks_for_its_parse_too(tmp_path):
    # The parse's env holds the server's address: a DSN that is only read, so that no embedded
    # server starts (in a RunAll, its pre-run checks have started it by then).
    got = run_python(
        f"""
        import json, luigi, os
        os.environ["PIPELINE_DATA_DIR"] = {str(tmp_path)!r}
        os.environ["PIPELINE_PG_DSN"] = "postgresql://etl:secret@db.example:6543/retail"
        import pipeline.lib.dbt as dbt
        from pipeline.tasks import VerifyPostgres

        class NotDone(luigi.Task):
            def complete(self):
                return False

        task = VerifyPostgres(source="a.xlsx")
        task.trigger_event(luigi.Event.DEPENDENCY_DISCOVERED, task, NotDone())
        print(json.dumps({{"importer_is_this_process": dbt._preparer == os.getpid(),
                          "planned": [n for n in ("warehouse", "olap") if dbt.parse_planned(n)],
                          "host": dbt._planned["olap"].env["PGHOST"]}}))
        """
    )
    assert got == {"importer_is_this_process": True, "planned": ["olap"], "host": "db.example"}
    assert not (tmp_path / "postgres").exists()


def test_the_collector_is_off_during_an_invocation_and_as_it_was_after():
    import gc

    from pipeline.lib.dbt import _collector_paused

    assert gc.isenabled()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_luigi_task_process_freezes_what_an_invocation_left_and_no_other_process_does(tmp_path):
    # Luigi with two workers forks a process per task, which ends when its task does; any other
    # process (the scheduling one, a pool worker) may live on and invoke dbt again.
    got = run_python(
        f"""
        import gc, json, multiprocessing
        import luigi
        import pipeline.tasks  # noqa: F401 (the task layer marks the processes Luigi forks per task)
        from pipeline.lib.dbt import _collector_paused

        def invocation():
            before = gc.get_freeze_count()
            with _collector_paused():
                left = [[i] for i in range(10_000)]  # what an invocation leaves behind
            return {{"frozen": gc.get_freeze_count() - before >= 10_000, "enabled": gc.isenabled()}}

        class Invoke(luigi.Task):
            def output(self):
                return luigi.LocalTarget({str(tmp_path / "task.json")!r})

            def run(self):
                with self.output().open("w") as out:
                    json.dump(invocation(), out)

        def in_child(queue):
            queue.put(invocation())

        if __name__ == "__main__":
            assert luigi.build([Invoke()], workers=2, local_scheduler=True, log_level="WARNING")
            with open({str(tmp_path / "task.json")!r}) as task:
                in_task_process = json.load(task)
            context = multiprocessing.get_context("fork")
            queue = context.Queue()
            child = context.Process(target=in_child, args=(queue,))
            child.start()
            in_other_child = queue.get(timeout=60)
            child.join()
            print(json.dumps({{"task process": in_task_process, "other child": in_other_child,
                              "this process": invocation()}}))
        """
    )
    assert got == {
        "task process": {"frozen": True, "enabled": True},
        "other child": {"frozen": False, "enabled": True},
        "this process": {"frozen": False, "enabled": True},
    }


def test_ctrl_c_during_the_fork_hooks_work_stops_the_scheduling_process_after_the_hook(tmp_path):
    # Python drops what a fork hook raises; a Ctrl-C there must still reach the code after the fork.
    got = run_python(
        f"""
        import json, os, time
        from pathlib import Path
        import pipeline.lib.dbt as dbt

        def interrupted(request):
            raise KeyboardInterrupt

        dbt._make_parse = interrupted
        here = Path({str(tmp_path)!r})
        dbt.parse_after_next_fork("warehouse", dbt.ParseRequest(here, here, None, {{}}))
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        try:
            time.sleep(10)
            seen = "no interrupt"
        except KeyboardInterrupt:
            seen = "interrupted after the hook"
        print(json.dumps({{"seen": seen}}))
        """
    )
    assert got == {"seen": "interrupted after the hook"}
