"""One benchmark task on disk: the input folder mlzero sees, and beside it the hidden folder
with the answers, the trivial and reference predictions, and task.json (metric, scores)."""
import json
import os

import numpy as np

from scoring import GREATER_IS_BETTER, PERFECT, score


def write_table(frame, path):
    """Writes a table in the format its extension names."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    extension = os.path.splitext(path)[1].lower()
    if extension == ".csv":
        frame.to_csv(path, index=False)
    elif extension == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif extension == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif extension == ".json":
        frame.to_json(path, orient="records", indent=1)
    elif extension == ".parquet":
        frame.to_parquet(path, index=False)
    elif extension == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        raise ValueError(f"no writer for {path}")


class TaskWriter:
    """Collects a task's files and facts; finish() scores the baselines and writes task.json.

    `keys` are the test columns that identify a row in the predictions (empty: rows are
    matched by order). Predictions in the hidden files use one canonical form: the keys and
    the label column holding a class (accuracy, f1, f1_macro), the positive class's
    probability (binary roc_auc, log_loss) or a number (regression); multiclass log_loss has
    one probability column per class instead of the label column. Classes are text, sorted.
    """

    def __init__(self, root, name, *, modality, problem_type, metric, label, keys, source, form,
                 classes=None, positive_class=None):
        self.name = name
        self.input = os.path.join(root, name, "input")
        self.hidden = os.path.join(root, name, "hidden")
        os.makedirs(self.input)
        os.makedirs(self.hidden)
        self.spec = {
            "name": name,
            "modality": modality,
            "problem_type": problem_type,
            "metric": metric,
            "greater_is_better": GREATER_IS_BETTER[metric],
            "perfect_score": PERFECT[metric],
            "label": label,
            "keys": list(keys),
            "classes": sorted(str(value) for value in classes) if classes is not None else [],
            "positive_class": positive_class,
            "source": source,
            "form": form,
            "files": {},
        }

    def path(self, relative):
        return os.path.join(self.input, relative)

    def table(self, role, relative, frame):
        """Writes an input table; `role` (train, test, sample_submission, extra) goes in task.json."""
        write_table(frame, self.path(relative))
        self.add_file(role, relative)

    def text(self, role, relative, content):
        with open(self.path(relative), "w", encoding="utf-8") as handle:
            handle.write(content)
        self.add_file(role, relative)

    def add_file(self, role, relative):
        files = self.spec["files"]
        if role == "extra":
            files.setdefault("extra", []).append(relative)
        else:
            files[role] = relative

    def finish(self, answers, trivial, trivial_method, reference, reference_model):
        """Writes the hidden files and task.json with the trivial and reference scores, computed
        here with scikit-learn. `answers` holds the keys and the label of every test row, in
        test order; `trivial` and `reference` are model outputs (see canonical)."""
        spec = self.spec
        answers = answers[[*spec["keys"], spec["label"]]].reset_index(drop=True)
        trivial, reference = canonical(spec, answers, trivial), canonical(spec, answers, reference)
        write_table(answers, os.path.join(self.hidden, "answers.csv"))
        write_table(trivial, os.path.join(self.hidden, "trivial.csv"))
        write_table(reference, os.path.join(self.hidden, "reference.csv"))
        spec["test_rows"] = int(len(answers))
        spec["trivial"] = {"method": trivial_method, "score": score(spec, answers, trivial)}
        spec["reference"] = {"model": reference_model, "score": score(spec, answers, reference)}
        better = spec["reference"]["score"] > spec["trivial"]["score"]
        if better != spec["greater_is_better"]:
            raise ValueError(f"{self.name}: the reference ({spec['reference']}) does not beat the trivial baseline ({spec['trivial']})")
        with open(os.path.join(self.hidden, "task.json"), "w", encoding="utf-8") as handle:
            json.dump(spec, handle, indent=2)
        return spec


def canonical(spec, answers, output):
    """Predictions in the hidden files' form from a model's output: one number per row for
    regression, else class probabilities (a frame, one column per class, sorted)."""
    out = answers[spec["keys"]].copy()
    label = spec["label"]
    if spec["problem_type"] == "regression":
        out[label] = np.asarray(output, dtype="float64")
        return out
    if len(output) != len(answers):
        raise ValueError(f"{spec['name']}: {len(output)} predictions for {len(answers)} test rows")
    probabilities = output[spec["classes"]].to_numpy()
    if spec["metric"] in ("accuracy", "f1", "f1_macro"):
        out[label] = np.array(spec["classes"], dtype=object)[probabilities.argmax(axis=1)]
    elif spec["problem_type"] == "binary":
        out[label] = probabilities[:, spec["classes"].index(spec["positive_class"])]
    else:
        for index, name in enumerate(spec["classes"]):
            out[name] = probabilities[:, index]
    return out
