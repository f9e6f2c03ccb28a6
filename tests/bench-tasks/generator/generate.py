"""Writes the benchmark task suite: python generate.py OUT_DIR

Each task goes to OUT_DIR/<name>/input (the raw folder mlzero gets) and OUT_DIR/<name>/hidden
(answers.csv, trivial.csv, reference.csv, task.json); OUT_DIR/manifest.json lists the tasks in
order. OUT_DIR must not exist yet. Every task is seeded: the same files on every run (but for the
creation time inside the Excel workbooks).
"""
import json
import os
import sys
import time
import warnings

# Oversubscribed OpenMP pools crawl on shared cores, and the reference models are small.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import image_tasks
import series_tasks
import tabular_tasks
import text_tasks

TASKS = [*tabular_tasks.TASKS, *text_tasks.TASKS, *image_tasks.TASKS, *series_tasks.TASKS]


def main(out_dir):
    os.makedirs(out_dir)
    specs = []
    for make in TASKS:
        started = time.monotonic()
        spec = make(out_dir)
        specs.append({key: spec[key] for key in ("name", "modality", "problem_type", "metric")})
        print(f"{spec['name']}: {spec['metric']} trivial {spec['trivial']['score']:.4f}, reference {spec['reference']['score']:.4f} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump({"tasks": specs}, handle, indent=2)


if __name__ == "__main__":
    # Convergence and feature-name chatter from the reference models is not news.
    warnings.simplefilter("ignore")
    main(sys.argv[1])
