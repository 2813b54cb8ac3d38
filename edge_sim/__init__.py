"""Stand-ins for what cannot exist here: a simulated battery, power-monitor firmware emulators on
pseudo-terminals, sockets and folders, and the closed-loop battery demo built on them.

Not part of the device runtime (:mod:`edge_runtime`): the tests, ``tools/`` and ``edge-runtime demo
--battery`` use them, through the same ports, files and parsers a real monitor uses."""
