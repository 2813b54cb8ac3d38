"""Loss-free power logs (``edge-capture``): :mod:`.log` writes rows, :mod:`.run` drives a monitor into it,
:mod:`.plot` reads and draws a capture."""
