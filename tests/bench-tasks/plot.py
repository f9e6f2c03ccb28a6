"""Draws the normalised score of every task of a bench-tasks report: python plot.py REPORT_JSON OUT_PNG"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"tabular": "#4c72b0", "text": "#dd8452", "image": "#55a868", "time_series": "#c44e52", "multimodal": "#8172b3"}


def main(report_file, png_file):
    with open(report_file, encoding="utf-8") as handle:
        report = json.load(handle)
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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
