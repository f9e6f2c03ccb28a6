"""The suite's metrics, with scikit-learn, on canonical prediction frames (see TaskWriter).
The TypeScript graders implement the same metrics; the suite's test checks both agree."""
import numpy as np
from sklearn import metrics as skm

GREATER_IS_BETTER = {
    "accuracy": True, "f1": True, "f1_macro": True, "roc_auc": True, "r2": True,
    "log_loss": False, "rmse": False, "mae": False,
}
PERFECT = {"accuracy": 1.0, "f1": 1.0, "f1_macro": 1.0, "roc_auc": 1.0, "r2": 1.0, "log_loss": 0.0, "rmse": 0.0, "mae": 0.0}


def normalized(probabilities):
    """Rows scaled to sum to one (scikit-learn only clips them)."""
    probabilities = np.asarray(probabilities, dtype="float64")
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def score(spec, answers, predicted):
    metric, label = spec["metric"], spec["label"]
    truth = answers[label].reset_index(drop=True)
    if metric in ("accuracy", "f1", "f1_macro"):
        truth, guess = truth.astype(str), predicted[label].astype(str)
        if metric == "accuracy":
            return float(skm.accuracy_score(truth, guess))
        if metric == "f1":
            return float(skm.f1_score(truth, guess, pos_label=spec["positive_class"], zero_division=0.0))
        return float(skm.f1_score(truth, guess, average="macro", zero_division=0.0))
    if metric in ("roc_auc", "log_loss") and spec["problem_type"] == "binary":
        positive = (truth.astype(str) == spec["positive_class"]).astype(int)
        probability = predicted[label].astype("float64").to_numpy()
        if metric == "roc_auc":
            return float(skm.roc_auc_score(positive, probability))
        return float(skm.log_loss(positive, y_proba=normalized(np.column_stack([1 - probability, probability])), labels=[0, 1]))
    if metric == "log_loss":
        classes = spec["classes"]
        return float(skm.log_loss(truth.astype(str), y_proba=normalized(predicted[classes]), labels=classes))
    truth, guess = truth.astype("float64"), predicted[label].astype("float64")
    if metric == "rmse":
        return float(skm.root_mean_squared_error(truth, guess))
    if metric == "mae":
        return float(skm.mean_absolute_error(truth, guess))
    if metric == "r2":
        return float(skm.r2_score(truth, guess))
    raise ValueError(f"unknown metric {metric}")
