"""Pd, Fa, IoU and nIoU of binary predictions by ``pyirstdmetrics`` (the independent reference).

Run with an interpreter that has ``pyirstdmetrics==1.0.2`` (it needs numpy < 2, so it lives in its own
environment, ``.venv-crosscheck``): ``python pyirstd_reference.py masks.npz`` prints the metrics as JSON.
The npz holds ``pred_<i>`` and ``gt_<i>`` bool arrays for i = 0, 1, ...
"""

import json
import sys

import numpy as np
import py_irstd_metrics as pim


def main(path: str) -> None:
    data = np.load(path)
    n = len([k for k in data.files if k.startswith("gt_")])
    pdfa = pim.ProbabilityDetectionAndFalseAlarmRate(num_bins=1, distance_threshold=3)
    cm = pim.CMMetrics(
        num_bins=1,
        threshold=0.5,
        metric_handlers={
            "iou": pim.IoUHandler(with_dynamic=False, with_binary=True, sample_based=False),
            "niou": pim.IoUHandler(with_dynamic=False, with_binary=True, sample_based=True),
        },
    )
    for i in range(n):
        prob, gt = data[f"pred_{i}"].astype(np.float64), data[f"gt_{i}"]
        pdfa.update(prob, gt)
        cm.update(prob, gt)
    r, c = pdfa.get(), cm.get()
    print(
        json.dumps(
            {
                "pd": float(np.ravel(r["probability_detection"])[0]),
                "fa": float(np.ravel(r["false_alarm"])[0]),
                "iou": float(c["iou"]["binary"]),
                "niou": float(c["niou"]["binary"]),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
