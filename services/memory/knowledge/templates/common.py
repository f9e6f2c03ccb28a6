# Shared by every mlzero program template: the config, reading the tables, the validation
# split, the metrics, the MLZERO_RESULT line and the predictions file. The model code follows.
import os

# Thread pools are sized when numpy and the model library load, so cap them first.
N_JOBS = int(os.environ.get("MLZERO_CPUS", "2"))
os.environ.setdefault("OMP_NUM_THREADS", str(N_JOBS))

import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

CONFIG = json.loads(__MLZERO_CONFIG__)
SEED = int(CONFIG["seed"])
REDUCE = int(CONFIG["reduce_level"])
CLASSIFICATION = CONFIG["problem_type"] in ("binary", "multiclass")


def start_clock():
    """(start, deadline) of CONFIG's time budget. main() calls it first, so the time the
    model library takes to import does not count against the budget."""
    start = time.monotonic()
    return start, start + float(CONFIG["time_limit_seconds"])


def say(message):
    """A progress line on stdout: what the program is doing, for the logs and the live view."""
    print(f"mlzero: {message}", flush=True)


def warn(message):
    print(f"mlzero: {message}", file=sys.stderr, flush=True)


def read_table(path, fmt):
    """Reads one table; ids and codes stay text (\"007\" must not become 7)."""
    text = {CONFIG["id_column"]: str} if CONFIG["id_column"] else None
    if fmt == "csv":
        return pd.read_csv(path, dtype=text, low_memory=False)
    if fmt == "tsv":
        return pd.read_csv(path, sep="\t", dtype=text, low_memory=False)
    if fmt == "json":
        return pd.read_json(path, orient="records", dtype=False, convert_dates=False)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    if fmt == "parquet":
        return pd.read_parquet(path)
    raise ValueError(f"unsupported table format {fmt!r} for {path}")


def feature_columns(train):
    label = CONFIG["label_column"]
    if label not in train.columns:
        raise KeyError(f"label column {label!r} not found in the training file; columns: {list(train.columns)}")
    dropped = set(CONFIG["ignore_columns"]) | {label}
    if CONFIG["id_column"]:
        dropped.add(CONFIG["id_column"])
    return [column for column in train.columns if column not in dropped]


def align_test(test, columns):
    missing = [column for column in columns if column not in test.columns]
    if missing:
        warn(f"test file lacks feature columns {missing}; they are treated as missing values")
        test = test.assign(**{column: np.nan for column in missing})
    return test[columns]


def subsample(train):
    """reduce_level >= 1 (after an OOM or timeout) trains on fewer rows."""
    cap = {0: None, 1: 200_000, 2: 50_000}.get(REDUCE, 10_000)
    if cap is not None and len(train) > cap:
        warn(f"reduce_level {REDUCE}: training on {cap} of {len(train)} rows")
        return train.sample(n=cap, random_state=SEED)
    return train


def load_tables():
    """The training rows that have a label, the test table, the feature columns and the target."""
    train = read_table(CONFIG["train_path"], CONFIG["train_format"])
    test = read_table(CONFIG["test_path"], CONFIG["test_format"])
    columns = feature_columns(train)
    label = CONFIG["label_column"]
    train = subsample(train[train[label].notna()])
    say(f"read {len(train)} labelled training rows, {len(test)} test rows, {len(columns)} features")
    target = train[label]
    if CLASSIFICATION and pd.api.types.is_float_dtype(target) and (target % 1 == 0).all():
        # Integer labels load as float when some rows lack a label; write 1, not 1.0.
        target = target.astype("int64")
    return train, test, columns, target


def encode_target(target):
    """(classes, encoded, n_classes): classification trains on indexes into the sorted classes,
    regression on floats (classes None, n_classes 0)."""
    if not CLASSIFICATION:
        return None, target.astype("float64"), 0
    classes = np.array(sorted(target.unique()))
    if len(classes) < 2:
        raise ValueError(f"the label column has a single class {classes.tolist()}")
    return classes, pd.Series(np.searchsorted(classes, target.to_numpy()), index=target.index), len(classes)


def holdout(features, target):
    """A seeded validation split (20%, at most 10k rows), stratified for classification.
    Rows of a class too rare to split stay in training, so the model knows every class."""
    size = min(0.2, 10_000 / len(target))
    say(f"holding out {size:.0%} of the rows for validation")
    if not CLASSIFICATION:
        return train_test_split(features, target, test_size=size, random_state=SEED)
    counts = target.value_counts()
    rare = target.isin(counts[counts < 2].index).to_numpy()
    x_train, x_valid, y_train, y_valid = train_test_split(
        features[~rare], target[~rare], test_size=size, random_state=SEED, stratify=target[~rare],
    )
    return pd.concat([x_train, features[rare]]), x_valid, pd.concat([y_train, target[rare]]), y_valid


def metric_name():
    metric = CONFIG["metric"]
    known = {"roc_auc", "log_loss", "accuracy", "balanced_accuracy", "f1", "f1_macro", "f1_weighted"} if CLASSIFICATION else {"rmse", "mse", "mae", "r2"}
    if metric in known:
        return metric
    fallback = "accuracy" if CLASSIFICATION else "rmse"
    warn(f"metric {metric!r} is not computed for {CONFIG['problem_type']}; reporting {fallback}")
    return fallback


def score(metric, truth, predicted, probabilities, n_classes):
    """The validation score of CONFIG's metric, as the metric itself reads (rmse: lower is better)."""
    if metric == "roc_auc":
        if n_classes == 2:
            return skm.roc_auc_score(truth, probabilities[:, 1])
        return skm.roc_auc_score(truth, probabilities, multi_class="ovr", labels=list(range(n_classes)))
    if metric == "log_loss":
        return skm.log_loss(truth, probabilities, labels=list(range(n_classes)))
    table = {
        "accuracy": lambda: skm.accuracy_score(truth, predicted),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(truth, predicted),
        "f1": lambda: skm.f1_score(truth, predicted, average="binary" if n_classes == 2 else "macro"),
        "f1_macro": lambda: skm.f1_score(truth, predicted, average="macro"),
        "f1_weighted": lambda: skm.f1_score(truth, predicted, average="weighted"),
        "rmse": lambda: skm.root_mean_squared_error(truth, predicted),
        "mse": lambda: skm.mean_squared_error(truth, predicted),
        "mae": lambda: skm.mean_absolute_error(truth, predicted),
        "r2": lambda: skm.r2_score(truth, predicted),
    }
    return table[metric]()


def report(metric, truth, predicted, probabilities, n_classes, model):
    """Prints the validation score as the one MLZERO_RESULT line the executor reads."""
    value = score(metric, truth, predicted, probabilities, n_classes)
    say(f"{model}: validation {metric} = {value:.4f}")
    print("MLZERO_RESULT " + json.dumps({
        "metric": metric,
        "score": float(value),
        "validation_rows": int(len(truth)),
        "model": model,
    }), flush=True)


def write_predictions(test, classes, predicted, probabilities):
    """Writes exactly CONFIG's output columns: the id copied from the test file, then labels
    (`predicted` holds class indexes for classification), the positive class's probability
    (positive_class), or one probability per class."""
    columns = CONFIG["output_columns"]
    id_column = CONFIG["id_column"]
    out = pd.DataFrame(index=range(len(test)))
    if id_column:
        if id_column not in test.columns:
            raise KeyError(f"id column {id_column!r} not found in the test file; columns: {list(test.columns)}")
        out[id_column] = test[id_column].to_numpy()
    targets = [column for column in columns if column != id_column]
    if CONFIG["class_probabilities"]:
        names = [str(value) for value in classes]
        if set(targets) == set(names):
            order = [names.index(column) for column in targets]
        elif len(targets) == len(classes) and sorted(CONFIG["label_values"]) == sorted(names):
            # Columns named otherwise (e.g. "Class_1") follow the order of label_values.
            order = [names.index(value) for value in CONFIG["label_values"]]
        else:
            raise ValueError(f"cannot match probability columns {targets} to classes {names}")
        for column, index in zip(targets, order):
            out[column] = probabilities[:, index]
    else:
        if len(targets) != 1:
            raise ValueError(f"expected one prediction column besides the id, got {targets}")
        positive = CONFIG.get("positive_class")
        if positive is not None and probabilities is not None:
            # Binary task scored on probabilities: the label column holds P(positive class).
            names = [str(value) for value in classes]
            if positive not in names:
                raise ValueError(f"positive_class {positive!r} is not a training label {names}")
            out[targets[0]] = probabilities[:, names.index(positive)]
        else:
            out[targets[0]] = classes[predicted] if CLASSIFICATION else predicted
    if out.isna().any().any():
        raise ValueError("predictions contain missing values")
    directory = os.path.dirname(CONFIG["output_path"])
    if directory:
        os.makedirs(directory, exist_ok=True)
    out[columns].to_csv(CONFIG["output_path"], index=False)
    say(f"wrote {len(out)} predictions to {CONFIG['output_path']}")
