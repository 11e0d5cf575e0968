"""A stub for `chorus implement examples/window.py:4`."""


def moving_average(values: list[float], size: int) -> list[float]:
    """Averages of each window of `size` consecutive values."""
    raise NotImplementedError
