"""The camera source: frames from a V4L2 camera, a video file or a stream, through OpenCV
(``opencv-python-headless``, the ``camera`` extra), at most ``fps`` a second, each through the same
preprocessing as an image file (colour mode, resize). A frame that finds the queue full is dropped and
counted, never queued late: a camera is live. A file or stream that ends ends this source.

Thread rules: one daemon thread reads frames and queues jobs.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..core.preprocess import fit_image
from ..errors import EdgeRuntimeError
from .source import Source
from .worker import Job

log = logging.getLogger(__name__)


def open_capture(source: str) -> Any:
    """``cv2.VideoCapture`` of ``source``: a device number (``0``), a device path, a file or a URL."""
    try:
        import cv2
    except ImportError as exc:
        raise EdgeRuntimeError("--camera needs OpenCV: pip install 'edge-adaptive[camera]' "
                               "(opencv-python-headless)") from exc
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise EdgeRuntimeError(f"--camera {source}: OpenCV cannot open it (a V4L2 device like /dev/video0 or 0, "
                               "a video file or a stream URL)")
    return capture


class CameraSource(Source):
    """Reads ``source`` and queues frames to ``service.worker`` at up to ``fps`` per second."""

    def __init__(self, source: str, service: Any, fps: float = 5.0) -> None:
        super().__init__(f"camera {source}")
        self.source = source
        self.service = service
        self.fps = fps
        self.capture = open_capture(source)
        self.frames = 0
        self.dropped = 0
        self.ended = threading.Event()

    def _run(self) -> None:
        from PIL import Image

        spec = self.service.runtime.bundle.input
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                ok, frame = self.capture.read()
                if not ok:
                    log.warning("camera %s: no more frames (%d read)", self.source, self.frames)
                    break
                self.frames += 1
                rgb = frame[..., ::-1] if frame.ndim == 3 else frame  # OpenCV frames are BGR
                pixels = fit_image(Image.fromarray(rgb), spec.color_mode, (spec.width, spec.height), spec.resize)
                job = Job(pixels.reshape(spec.height, spec.width, spec.channels), "camera", f"frame {self.frames}")
                if not self.service.worker.submit(job):
                    self.dropped += 1
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                next_at = max(next_at, time.monotonic())
        finally:
            self.capture.release()
            self.ended.set()
