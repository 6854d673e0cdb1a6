"""The one exception type for bad input.

Every refusal of user input (constructor arguments, config keys, files) raises :class:`InputError`
with a one-line message that names the parameter, the value and what is allowed. The CLI prints the
message alone and exits with status 2; library callers may catch it as a ``ValueError``.
"""


class InputError(ValueError):
    """Bad input: ``InputError(name, value, allowed)`` -> "name = value: expected allowed"."""

    def __init__(self, name: str, value, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        text = repr(value) if isinstance(value, str) else str(value)
        if len(text) > 80:
            text = text[:77] + "..."
        super().__init__(f"{name} = {text}: expected {allowed}")

    def __reduce__(self):
        # pickled with its three parts, so it crosses to and from Dask worker processes
        return type(self), (self.name, self.value, self.allowed)


def is_real(value) -> bool:
    """True for a Python or numpy integer or float (never a bool): a number a check may compare."""
    import numpy as np

    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
