"""The demos of tinyattn: each a small, runnable story about one idea of attention.

    python -m demos                  the tour: every demo in its quick mode, one after the other
    python -m demos.quickstart       one demo alone, in its full mode (--help for its options)

Demos:
    quickstart   a soft-attention model learns, from scratch, to read the token after a marker, and shows
                 its attention weights: the model looking at the position after the marker.

Each demo module has a ``main(argv=None)`` that takes ``--quick``, ``--seed`` and ``--out`` (among its own
options), prints its story, and returns a dict of results. Demos print; the library never does.
"""
