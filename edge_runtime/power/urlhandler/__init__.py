"""pyserial URL handlers this package adds: ``unix://PATH`` and ``replay://PATH``.

:mod:`..transports` appends this package to ``serial.protocol_handler_packages`` so that
``serial.serial_for_url`` opens these URLs like its own ``socket://`` or ``loop://``.
"""
