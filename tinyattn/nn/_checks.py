"""The checks of the layers' constructor arguments (sizes, counts, indices), in one message style:

    "<Layer>: <argument> must be <what is accepted>; got <argument>=<value> (<type>)"

An integer argument is a Python int or an integer NumPy scalar; a bool is refused (True would pass for 1), and so
is a float, even a whole one (2.0 is a slip, as in NumPy's shapes). TypeError for a value of the wrong kind,
ValueError for an integer out of range. Each check returns the value as a Python int. The attention modules use
the same checks for their sizes.
"""
import numpy as np


def _integer(layer, name, value, accepted):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: {name} must be {accepted}; got {name}={value!r} ({type(value).__name__})")
    return int(value)


def size(layer, name, value, minimum=1, optional=False):
    """`value` as an int if it is an integer >= `minimum` (1 by default: a size or count of zero leaves nothing to
    compute, and divides by zero in an initialiser); with `optional`, None (a default) is returned as it is."""
    if optional and value is None:
        return None
    if _integer(layer, name, value, "an integer or None" if optional else "an integer") < minimum:
        raise ValueError(f"{layer}: {name} must be an integer >= {minimum}; got {name}={value!r}")
    return int(value)


def index(layer, name, value, length):
    """`value` as an int if it is an integer index into `length` positions, in [-length, length)."""
    accepted = f"an integer in [{-length}, {length})"
    if not -length <= _integer(layer, name, value, accepted) < length:
        raise ValueError(f"{layer}: {name} must be {accepted}; got {name}={value!r}")
    return int(value)
