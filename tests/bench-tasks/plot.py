"""Draws the normalised score of every task of a bench-tasks report: python plot.py REPORT_JSON OUT_PNG

A comparison report (`compare`: one entry per --parallelism, each task with a run per entry) gets a
bar per mode for every task."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"tabular": "#4c72b0", "text": "#dd8452", "image": "#55a868", "time_series": "#c44e52", "multimodal": "#8172b3"}


def main(report_file, png_file):
    with open(report_file, encoding="utf-8") as handle:
        report = json.load(handle)
    if "compare" in report:
        draw_comparison(report, png_file)
        return
    tasks = report["tasks"][::-1]
    names = [task["name"] for task in tasks]
    # A failed task sits at 0, the trivial baseline, and says so.
    values = [task["normalised"] if task["success"] else 0.0 for task in tasks]
    shown = [min(max(value, -0.5), 1.5) for value in values]
    figure, axes = plt.subplots(figsize=(9, 0.38 * len(tasks) + 1.6))
    bars = axes.barh(names, shown, color=[COLOURS.get(task["modality"], "grey") for task in tasks])
    for bar, task, value in zip(bars, tasks, values):
        label = f"{value:.2f}" if task["success"] else "failed"
        axes.text(max(bar.get_width(), 0) + 0.02, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=8,
                  color="black" if task["success"] else "#c44e52")
    axes.axvline(0, color="black", linewidth=0.8)
    axes.axvline(report["goodEnough"], color="grey", linestyle="--", linewidth=0.8)
    axes.axvline(1, color="black", linestyle=":", linewidth=0.8)
    axes.set_xlim(-0.5, 1.6)
    axes.set_xlabel(f"normalised score: 0 = trivial baseline, 1 = reference model, dashed = {report['goodEnough']} (clipped to [-0.5, 1.5])")
    totals = report["totals"]
    axes.set_title(f"mlzero on {totals['tasks']} tasks: {totals['succeeded']} succeeded, mean normalised {totals['meanNormalised']:.2f}")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in COLOURS.values()]
    axes.legend(handles, list(COLOURS), loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(png_file, dpi=110)


MODE_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"]


def draw_comparison(report, png_file):
    modes = report["compare"]
    tasks = report["tasks"][::-1]
    height = 0.8 / len(modes)
    figure, axes = plt.subplots(figsize=(9, 0.38 * len(tasks) * max(1, len(modes) * 0.7) + 2.0), layout="constrained")
    for index, mode in enumerate(modes):
        runs = [task["runs"][index] for task in tasks]
        values = [run["normalised"] if run["success"] else 0.0 for run in runs]
        # The first mode on top of each task's group.
        positions = [row + (len(modes) - 1 - index - (len(modes) - 1) / 2) * height for row in range(len(tasks))]
        bars = axes.barh(positions, [min(max(value, -0.5), 1.5) for value in values], height=height,
                         color=MODE_COLOURS[index % len(MODE_COLOURS)],
                         label=f"{mode['label']}: mean {mode['totals']['meanNormalised']:.2f}, "
                               f"median wall {mode['totals']['medianWallSeconds']:.0f} s")
        for bar, run, value in zip(bars, runs, values):
            label = f"{value:.2f}  {run['wallSeconds']:.0f} s" if run["success"] else f"failed  {run['wallSeconds']:.0f} s"
            axes.text(max(bar.get_width(), 0) + 0.02, bar.get_y() + bar.get_height() / 2, label, va="center", fontsize=6,
                      color="black" if run["success"] else "#c44e52")
    axes.set_yticks(range(len(tasks)))
    axes.set_yticklabels([task["name"] for task in tasks])
    axes.axvline(0, color="black", linewidth=0.8)
    axes.axvline(report["goodEnough"], color="grey", linestyle="--", linewidth=0.8)
    axes.axvline(1, color="black", linestyle=":", linewidth=0.8)
    axes.set_xlim(-0.5, 1.8)
    axes.set_xlabel(f"normalised score (0 = trivial baseline, 1 = reference model, dashed = {report['goodEnough']}) and wall time")
    axes.set_title(f"mlzero on {len(tasks)} tasks: " + " vs ".join(mode["label"] for mode in modes))
    # Below the axes, where it covers no bar.
    figure.legend(loc="outside lower center", fontsize=7)
    figure.savefig(png_file, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
