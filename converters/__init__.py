"""Workstation side: train multi-exit Keras models and convert them into int8 TFLite bundles.

Imports TensorFlow; the device side (:mod:`edge_runtime`) never imports this package.
"""
