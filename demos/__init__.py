"""The demos of tinyattn: each a small, runnable story about one idea of attention.

    python -m demos                  the tour: every demo in its quick mode, one after the other, then a
                                     summary table and demo-output/index.html, a page of all their pictures
    python -m demos.quickstart       one demo alone, in its full mode (--help for its options)

Demos:
    quickstart   a soft-attention model learns, from scratch, to read the token after a marker, and shows
                 its attention weights: the model looking at the position after the marker.
    dates        seq2seq without attention, with Bahdanau's and with Luong's, translating dates written in
                 many human formats to ISO form; accuracy by input length and alignment heatmaps.
    documents    a Hierarchical Attention Network classifies generated reviews and shows which sentences and
                 words it read (HTML highlights).
    hard         hard attention: one reader trained with soft attention, REINFORCE (no baseline, a moving
                 average, leave-one-out) and Gumbel-softmax straight-through; steps to 90% and learning curves.
    glimpses     a recurrent attention model names a hand-written digit in a larger canvas from six glimpses,
                 against random glimpse places and an MLP; the glimpse paths drawn over the canvases.
    pairs        a BiDAF reader and a reader with the question pooled into one vector answer questions about
                 generated passages; exact match by passage length, context-to-query weights with the span marked.
    longrange    a GRU and a small Transformer check a token against a key seen up to 200 steps earlier;
                 accuracy by distance, time per step, each head's weights and the attention rollout.
    cost         time and peak memory of attention against sequence length, the unfused path against the
                 fused kernel; a table and two log-log line charts.

Each demo module has a ``main(argv=None)`` that takes ``--quick``, ``--seed`` and ``--out`` (among its own
options), prints its story, and returns a dict of results; and a ``headline(results)`` that states its key figure
in one line, for the tour's summary table and index page (demo-output/index.html). Demos print; the library never
does.
"""
import os

# The demos' matrices are small (tens to hundreds of rows): a second BLAS thread costs more in hand-offs than it
# saves, and on a loaded two-core machine it made training steps several times slower. Set before NumPy is
# imported by any demo; an explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
