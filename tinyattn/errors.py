"""The exceptions tinyattn raises at its public boundary.

Each subclasses the built-in exception NumPy would have raised, so code that catches ``ValueError``
(or ``TypeError``, ``IndexError``) keeps working, while the message names the operation, the shapes and the
dtypes involved.
"""


class OpError(Exception):
    """An operation was given input it cannot work with."""


class ShapeError(OpError, ValueError):
    """Shapes that do not fit the operation (mismatched sizes, batch dims that do not broadcast, ...)."""


class DTypeError(OpError, TypeError):
    """A dtype the operation cannot work with (integer data where floats are needed, a non-boolean mask, ...)."""


class IndexOpError(OpError, IndexError):
    """An index out of range, or of a kind the operation does not accept."""


class CheckpointError(OpError, ValueError):
    """A file that is not a loadable checkpoint: not an ``.npz`` archive, truncated or corrupt, or holding pickled
    data. The message names the file and what is wrong with it."""


class GraphError(RuntimeError):
    """The recorded graph cannot be walked as asked (freed by an earlier backward, non-scalar root, ...)."""


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with finite differences."""
