#!/usr/bin/env python3
"""Reads a run directory's TensorBoard event files with TensorBoard's own reader and prints what
it holds, for Tests/SystemTests/TensorBoardTests.swift:

    tensorboard_check.py RUNDIR
        prints one JSON object: {"scalars": {tag: [[step, value], ...]}, "texts": {tag: [[step, text], ...]}}
        as TensorBoard's event accumulator loads the directory (all events kept, each file's
        records CRC-checked, a SessionLog START purging what earlier sessions logged from its step).
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator


def main():
    accumulator = event_accumulator.EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0},
                                                     purge_orphaned_data=True)
    accumulator.Reload()
    tags = accumulator.Tags()
    scalars = {tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in tags.get("scalars", [])}
    texts = {}
    for tag in tags.get("tensors", []):
        texts[tag] = [[e.step, b"".join(e.tensor_proto.string_val).decode("utf-8")] for e in accumulator.Tensors(tag)]
    print(json.dumps({"scalars": scalars, "texts": texts}))


if __name__ == "__main__":
    main()
