"""Power monitors, batteries and the α they drive.

Layers, each ignorant of the one above (pyserial's transport/protocol split):

* :mod:`.profiles` — declarative monitor, battery and board profiles (TOML) and their schema;
* :mod:`.parsers` — bytes in, immutable :class:`~.samples.Sample` records out; never a port;
* :mod:`.transports` — ports opened by URL (``serial_for_url``) and sysfs, each with its reader
  thread, reconnection and receive-time stamps;
* :mod:`.battery` — state of charge from samples;
* :mod:`.policies` — α as a pure function of battery state and time;
* :mod:`.live` — the background thread that turns a monitor into the α each inference reads.
"""
