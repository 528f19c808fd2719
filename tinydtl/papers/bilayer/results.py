"""The authors' own stored results: test accuracy after every round, as their simulator logged it.

GitHub ``LanceBao0313/MSc-Project``, ``simulation/data/meta_data.txt`` keeps, for several runs of the
simulator, the accuracy of CFL (Flower FedAvg, the global model) and of DFL (the swarm: the mean over a
random half of the devices) after each round. :data:`AUTHORS_LISTS` copies the IID runs;
:func:`authors_lists_table` counts their extra rounds to a target the way :func:`tinydtl.core.history.History.
rounds_to_reach` counts ours.
"""

from __future__ import annotations

__all__ = ["AUTHORS_LISTS", "authors_lists_table", "first_round"]

#: Test accuracy after each round as the authors' simulator logged it (``simulation/data/meta_data.txt`` of
#: GitHub LanceBao0313/MSc-Project), IID runs. ``first_round``: the round of the list's first entry (CFL
#: lists and most DFL lists start with a placeholder 0 for round 0; ``DFL_30device_balance`` has none, its
#: time list starting after one round).
AUTHORS_LISTS = {
    "30 devices": {"CFL": [0, 0.8096, 0.8175, 0.8191, 0.8191, 0.8187, 0.8189],
                   "DFL": [0.1167, 0.7897, 0.7939, 0.8046, 0.8065, 0.8083, 0.8099, 0.8095], "DFL first_round": 1},
    "60 devices": {"CFL": [0, 0.7615, 0.8089, 0.814, 0.8166, 0.8169, 0.8178],
                   "DFL": [0, 0.6793, 0.5066, 0.5970, 0.7285, 0.7663, 0.7856, 0.8025, 0.8089, 0.8095, 0.8101,
                           0.8107, 0.8111]},
    "100 devices": {"CFL": [0, 0.7627, 0.8093, 0.8149, 0.8163, 0.8168, 0.8183],
                    "DFL": [0, 0.0984, 0.6791, 0.5593, 0.4921, 0.5243, 0.5746, 0.6120, 0.6944, 0.7357, 0.7548,
                            0.7674, 0.7827, 0.7958, 0.8025, 0.8052]},
    "60 devices, range 15": {"DFL": [0, 0.1133, 0.4501, 0.5336, 0.6335, 0.7051, 0.7348, 0.7669, 0.8071, 0.7741,
                                     0.7777, 0.7594, 0.8117, 0.7757, 0.7958]},
    "60 devices, range 30": {"DFL": [0, 0.1297, 0.5505, 0.6254, 0.7128, 0.7511, 0.7982, 0.8113]},
    "60 devices, range 45": {"DFL": [0, 0.1176, 0.5192, 0.7008, 0.7634, 0.8013, 0.8115, 0.8134, 0.8148]},
    "60 devices, range 60": {"DFL": [0, 0.1203, 0.5633, 0.7827, 0.8085, 0.8126, 0.8140, 0.8148]},
    "60 devices, range 75": {"DFL": [0, 0.1098, 0.5348, 0.7551, 0.7958, 0.8103, 0.8124, 0.8141]},
    "60 devices, range 90": {"DFL": [0, 0.1058, 0.5513, 0.7615, 0.7983, 0.8107, 0.8131, 0.8139]},
}


def first_round(values, target, start):
    """Round of the first entry ``>= target`` of a list whose first entry is round ``start``; None if never."""
    hit = [i for i, v in enumerate(values) if v >= target]
    return start + hit[0] if hit else None


def authors_lists_table(target: float = 0.80):
    """Per run of :data:`AUTHORS_LISTS`: CFL's and DFL's first round at ``target``, the extra rounds, and the
    accuracy both logged after round 1. The range sweep has no CFL list of its own: it is compared with the
    60-device CFL run."""
    import pandas as pd

    rows = {}
    for run, lists in AUTHORS_LISTS.items():
        cfl = lists.get("CFL", AUTHORS_LISTS["60 devices"]["CFL"])
        dfl, start = lists["DFL"], lists.get("DFL first_round", 0)
        r_c, r_d = first_round(cfl, target, 0), first_round(dfl, target, start)
        rows[run] = {"CFL round 1": cfl[1], "DFL round 1": dfl[1 - start], f"CFL rounds to {target:.2f}": r_c,
                     f"DFL rounds to {target:.2f}": r_d, "extra rounds": None if r_d is None or r_c is None else r_d - r_c}
    return pd.DataFrame.from_dict(rows, orient="index")
