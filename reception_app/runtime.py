"""Process-wide start-up tuning shared by the window, the ``clinic`` command and benchmarks.

Garbage collection: a slot search over two weeks allocates tens of thousands of
short-lived tuples; with CPython's defaults the collector then keeps walking
every object the process has loaded (Qt wrappers, SQLAlchemy's compiled
statements, modules), which made one search in twenty three times slower
(``make bench``: 14-day search p95 74 ms with defaults, 22 ms tuned). After
start-up we move everything that exists into the permanent generation
(``gc.freeze``) and let the young generation grow larger before collecting.
Cyclic garbage is still collected; only start-up objects are exempt.
"""

from __future__ import annotations

import gc

#: (generation 0, 1, 2) thresholds; CPython's default is (700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 50)


def tune_gc() -> None:
    """Freeze the objects created so far and raise the collection thresholds.

    Call once, after start-up imports and connections. Idempotent enough to
    call again (it freezes whatever exists by then).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
