"""``edge-runtime serve``: the runtime left running on a board, images coming from HTTP, a watched folder
or a camera, α following the battery. One worker thread owns the interpreter (:mod:`.worker`); sources
only decode images and queue them (:mod:`.http`, :mod:`.watch`, :mod:`.camera`); :mod:`.service` wires
them together and owns the lifecycle."""
