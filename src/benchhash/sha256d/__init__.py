"""The SHA-256d nonce-scanning engine: one interface (:func:`scan`), three backends."""

from benchhash.sha256d.scan import Candidate, Hit, ScanResult, scan

__all__ = ["Candidate", "Hit", "ScanResult", "scan"]
