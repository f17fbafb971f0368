"""Output arrays shared by the record walks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FRAMES_PER_BATCH = 65536


@dataclass(slots=True)
class BatchArrays:
    off: npt.NDArray[np.int64]
    cap: npt.NDArray[np.int64]
    wire: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    lt: npt.NDArray[np.int32]

    @classmethod
    def allocate(cls, n: int = FRAMES_PER_BATCH) -> BatchArrays:
        return cls(
            np.empty(n, np.int64),
            np.empty(n, np.int64),
            np.empty(n, np.int64),
            np.empty(n, np.int64),
            np.empty(n, np.int32),
        )
