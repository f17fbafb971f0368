"""Capture sources: pcap, pcapng, gzip, directories and stdin, read in frame batches."""

from zonewarden.capture.source import CaptureProblem, CaptureStats, open_captures

__all__ = ["CaptureProblem", "CaptureStats", "open_captures"]
