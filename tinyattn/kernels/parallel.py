"""Sharing blocks of work between threads, for kernels whose pieces release the GIL (NumPy's matrix products, and Numba
kernels compiled with nogil=True).

``spread(run, items)`` deals `items` out to W workers in turn (item i to worker i mod W, so that uneven items, such
as the blocks of causal attention, even out) and calls ``run(their_items, worker)`` in W threads at once, the calling
thread being worker 0. Meanwhile OpenBLAS (or whichever BLAS NumPy uses) runs one thread per call: W callers of a
two-thread BLAS on W cores would fight over the cores. Setting that limit needs threadpoolctl, which the `fast` extra
installs; without it, on one core, or for a single item, everything runs in the calling thread (W = 1).

W is the number of cores this process may use, or ``TINYATTN_THREADS`` when set (1: no threads). The BLAS limit is
process-wide while a spread runs: other threads' matrix products run single-threaded meanwhile.
"""
import os
import threading


class _State:
    pool = None  # a ThreadPoolExecutor, made on first use
    controller = False  # threadpoolctl's ThreadpoolController, None without threadpoolctl; False until looked up
    limit = None  # the BLAS limit in force while a spread runs
    active = 0  # spreads running now (in several threads of the user's, perhaps)


_state = _State()
_lock = threading.Lock()


def thread_count():
    """Workers a spread uses: TINYATTN_THREADS if set, else the cores this process may run on."""
    setting = os.environ.get("TINYATTN_THREADS", "").strip()
    if setting:
        try:
            return max(1, int(setting))
        except ValueError:
            raise ValueError(f"TINYATTN_THREADS must be a whole number of threads, got {setting!r}") from None
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _blas_controller():
    if _state.controller is False:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state.controller = None
        else:
            _state.controller = ThreadpoolController()
    return _state.controller


def workers(count):
    """How many workers `count` items are spread over (1: the calling thread alone)."""
    if count < 2:
        return 1
    wanted = min(thread_count(), count)
    return wanted if wanted > 1 and _blas_controller() is not None else 1


def spread(run, items, count=None):
    """run(items dealt to worker w, w) for each worker w, at once; returns when all are done (re-raising the first
    error). `count`: the workers to use, when the caller already chose them with ``workers``."""
    count = workers(len(items)) if count is None else count
    if count == 1:
        run(items, 0)
        return
    _limit_blas()
    try:
        from concurrent.futures import ThreadPoolExecutor  # here, not at import: it loads logging (~5 ms)

        with _lock:
            if _state.pool is None or _state.pool._max_workers < count - 1:
                _state.pool = ThreadPoolExecutor(max_workers=count - 1, thread_name_prefix="tinyattn")
            pool = _state.pool
        others = [pool.submit(run, items[worker::count], worker) for worker in range(1, count)]
        run(items[0::count], 0)
        for other in others:
            other.result()
    finally:
        _release_blas()


def _limit_blas():
    with _lock:
        if _state.active == 0:
            _state.limit = _blas_controller().limit(limits=1, user_api="blas")
        _state.active += 1


def _release_blas():
    with _lock:
        _state.active -= 1
        if _state.active == 0:
            _state.limit.restore_original_limits()
            _state.limit = None
