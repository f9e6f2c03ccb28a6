"""mlzero program template: AutoGluon-Tabular (TabularPredictor) on one tabular table.

AutoGluon infers feature types (numbers, categories, text, dates) and handles
missing values itself. Fits within the time budget on a seeded holdout split,
scores the holdout with CONFIG's metric, prints one MLZERO_RESULT line and
writes the predictions file. Models live in a temporary folder that is removed
at the end, so outputs/ holds only the predictions.
"""
# mlzero:include common.py


import importlib.util
import logging
import shutil
import tempfile

from autogluon.tabular import TabularPredictor

# AutoGluon model families that need a library beyond autogluon.tabular's core.
OPTIONAL_FAMILIES = {"CAT": "catboost", "XGB": "xgboost", "FASTAI": "fastai", "NN_TORCH": "torch"}


def autogluon_metric(metric, n_classes):
    """AutoGluon's name of the metric it should optimise."""
    if metric == "roc_auc":
        return "roc_auc" if n_classes == 2 else "roc_auc_ovr_macro"
    if metric == "f1":
        return "f1" if n_classes == 2 else "f1_macro"
    names = {"rmse": "root_mean_squared_error", "mse": "mean_squared_error", "mae": "mean_absolute_error"}
    return names.get(metric, metric)


def gpu_visible():
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def fit_options():
    """Model families whose library is absent are left out up front rather than
    failing one by one in the log; without a GPU the neural nets are left out
    too (on a few cores they take most of the budget for little gain on
    tables); reduce_level >= 1 also drops the slow families, and >= 2 keeps
    LightGBM alone."""
    excluded = [family for family, module in OPTIONAL_FAMILIES.items() if importlib.util.find_spec(module) is None]
    options = {"presets": "medium_quality", "num_cpus": N_JOBS}
    if not gpu_visible():
        options["num_gpus"] = 0
        excluded += ["NN_TORCH", "FASTAI"]
    if REDUCE >= 1:
        excluded += ["NN_TORCH", "FASTAI", "KNN"]
    if REDUCE >= 2:
        options["hyperparameters"] = {"GBM": {}}
    if excluded:
        options["excluded_model_types"] = sorted(set(excluded))
    return options


def quiet_missing_torch():
    """Without torch, AutoGluon's GPU probe logs "Failed to import torch" at error
    level for every model, which reads like the cause of any later failure."""
    if importlib.util.find_spec("torch") is None:
        probe = logging.getLogger("autogluon.common.utils.resource_utils")
        probe.addFilter(lambda record: "Failed to import torch" not in record.getMessage())


def predict(predictor, frame, n_classes):
    """(class indexes, probabilities) for classification, (values, None) for regression.
    Probabilities are float64 columns 0..n-1 that sum to one (AutoGluon may return float32)."""
    if CLASSIFICATION:
        values = predictor.predict_proba(frame, as_multiclass=True)[list(range(n_classes))].to_numpy(dtype="float64")
        probabilities = values / values.sum(axis=1, keepdims=True)
        return probabilities.argmax(axis=1), probabilities
    return predictor.predict(frame).to_numpy(), None


def main():
    _, deadline = start_clock()
    np.random.seed(SEED)
    quiet_missing_torch()
    train, test, columns, target = load_tables()
    features = train[columns]
    test_features = align_test(test, columns)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)

    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    # Keep a quarter of what is left for scoring, predicting and writing.
    fit_seconds = max(5, int(0.75 * (deadline - time.monotonic())))
    model_dir = tempfile.mkdtemp(prefix=".autogluon-", dir=".")
    try:
        # The label gets a name no feature can have, so a feature called "label" cannot clash.
        predictor = TabularPredictor(
            label="__mlzero_label__",
            problem_type=CONFIG["problem_type"],
            eval_metric=autogluon_metric(metric, n_classes),
            path=os.path.join(model_dir, "predictor"),
            verbosity=1,
        )
        predictor.fit(x_train.assign(__mlzero_label__=y_train.to_numpy()), time_limit=fit_seconds, **fit_options())
        predicted, probabilities = predict(predictor, x_valid, n_classes)
        report(metric, y_valid, predicted, probabilities, n_classes, f"AutoGluon:{predictor.model_best}")
        predicted, probabilities = predict(predictor, test_features, n_classes)
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
