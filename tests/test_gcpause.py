"""The cyclic collector paused by overlapping blocks (a file written on a worker thread while the next is built)
runs again once the last block ends, and only if it ran before the first began."""

from __future__ import annotations

import gc
import threading

from evalkit.gcpause import collector_paused


def test_overlapping_blocks_across_threads_restore_the_collector_once_the_last_ends() -> None:
    assert gc.isenabled()
    entered, release = threading.Event(), threading.Event()

    def worker() -> None:
        with collector_paused():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    with collector_paused():
        t.start()
        entered.wait(5)
        assert not gc.isenabled()
    assert not gc.isenabled()  # the worker's block is still open: the main thread's end does not resume it
    release.set()
    t.join(5)
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            with collector_paused():
                assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_job_gives_back_what_it_held_unless_the_caller_froze_objects_first() -> None:
    from evalkit.gcpause import hold_records, release_records

    assert gc.get_freeze_count() == 0
    hold_records()
    assert gc.get_freeze_count() > 0
    release_records(0)
    assert gc.get_freeze_count() == 0
    gc.freeze()  # the caller's own
    try:
        before = gc.get_freeze_count()
        hold_records()
        release_records(before)
        assert gc.get_freeze_count() >= before  # theirs is left frozen
    finally:
        gc.unfreeze()


def test_a_job_collects_the_young_generation_less_often_and_puts_the_thresholds_back() -> None:
    from evalkit.gcpause import JOB_THRESHOLD0, collector_tuned

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with collector_tuned():
            assert gc.get_threshold() == (JOB_THRESHOLD0, 10, 10)
        assert gc.get_threshold() == (700, 10, 10)
        gc.set_threshold(10 * JOB_THRESHOLD0, 5, 5)  # a caller that collects even less often keeps its setting
        with collector_tuned():
            assert gc.get_threshold() == (10 * JOB_THRESHOLD0, 5, 5)
        try:
            gc.set_threshold(700, 10, 10)
            with collector_tuned():
                raise RuntimeError("the job failed")
        except RuntimeError:
            pass
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_overlapping_jobs_put_the_thresholds_back_when_the_last_ends() -> None:
    from evalkit.gcpause import JOB_THRESHOLD0, collector_tuned

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        first, second = collector_tuned(), collector_tuned()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)  # the first job ends while the second runs
        assert gc.get_threshold() == (JOB_THRESHOLD0, 10, 10)
        second.__exit__(None, None, None)
        assert gc.get_threshold() == (700, 10, 10)  # not the tuned value the second saw on entering
    finally:
        gc.set_threshold(*before)
