"""Coral Edge TPU export: every segment as its own single-signature int8 file, co-compiled with
``edgetpu_compiler``, recorded in the bundle's manifest."""
