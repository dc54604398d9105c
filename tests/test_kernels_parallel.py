"""Sharing blocks between threads (tinyattn.kernels.parallel): every item runs once, in its worker, the BLAS limit
is undone afterwards, errors reach the caller, and TINYATTN_THREADS decides how many workers there are."""
import threading

import pytest

from tinyattn.kernels import parallel


def test_every_item_runs_exactly_once_dealt_in_turn(monkeypatch):
    monkeypatch.setenv("TINYATTN_THREADS", "3")
    seen = {}
    lock = threading.Lock()
    together = threading.Barrier(min(3, parallel.workers(10)), timeout=10)  # broken unless all run at once

    def run(items, worker):
        together.wait()
        with lock:
            seen[worker] = (list(items), threading.get_ident())

    parallel.spread(run, list(range(10)))
    if parallel.workers(10) == 1:  # no threadpoolctl here: one worker, the caller
        assert seen == {0: (list(range(10)), threading.get_ident())}
        return
    assert sorted(seen) == [0, 1, 2]
    assert seen[0][0] == [0, 3, 6, 9] and seen[1][0] == [1, 4, 7] and seen[2][0] == [2, 5, 8]
    assert seen[0][1] == threading.get_ident()  # the caller is worker 0
    assert len({ident for _, ident in seen.values()}) == 3  # the barrier held three threads at once


def test_the_blas_limit_holds_during_a_spread_and_is_undone_after(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")  # the `fast` extra installs it
    monkeypatch.setenv("TINYATTN_THREADS", "2")
    controller = threadpoolctl.ThreadpoolController()
    blas = controller.select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("NumPy's BLAS is not one threadpoolctl knows")
    before = [lib.num_threads for lib in blas.lib_controllers]
    during = []
    parallel.spread(lambda items, worker: during.append(
        [lib.num_threads for lib in threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers]),
        [0, 1])
    assert all(counts == [1] * len(before) for counts in during)
    assert [lib.num_threads for lib in threadpoolctl.ThreadpoolController().select(
        user_api="blas").lib_controllers] == before


def test_an_error_in_a_worker_reaches_the_caller_and_the_limit_is_still_undone(monkeypatch):
    monkeypatch.setenv("TINYATTN_THREADS", "2")

    def run(items, worker):
        if 1 in items:
            raise RuntimeError("worker failed")

    with pytest.raises(RuntimeError, match="worker failed"):
        parallel.spread(run, [0, 1])
    assert parallel._state.active == 0 and parallel._state.limit is None


def test_tinyattn_threads_sets_the_workers_and_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("TINYATTN_THREADS", "1")
    assert parallel.workers(100) == 1
    monkeypatch.setenv("TINYATTN_THREADS", "many")
    with pytest.raises(ValueError, match="TINYATTN_THREADS must be a whole number"):
        parallel.thread_count()
    monkeypatch.delenv("TINYATTN_THREADS")
    assert parallel.thread_count() >= 1
    assert parallel.workers(1) == 1  # one item: nothing to share
