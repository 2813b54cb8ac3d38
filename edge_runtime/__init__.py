"""Device side of the energy-adaptive runtime.

Runs on a Raspberry Pi or Coral board with numpy, an interpreter package
(ai-edge-litert, tflite-runtime or TensorFlow's tf.lite), Pillow and pyserial.
Never imports TensorFlow unless it is the interpreter backend of last resort.
"""

__version__ = "0.1.0"
