"""mlzero program template: XGBoost gradient-boosted trees on one tabular table.

xgboost is an optional tool: it is not in the default runtime, so this program
stops at its import with ModuleNotFoundError where it is absent, and the
planner falls back to the next tool. String columns become pandas categories
(XGBoost's native categorical support, hist tree method); missing values are
native. Early-stops on a seeded holdout, refits on all rows with the best
number of rounds, prints one MLZERO_RESULT line and writes the predictions.
"""
# mlzero:include common.py


import xgboost as xgb


def prepare(frame, categories):
    """XGBoost reads pandas categories natively (enable_categorical); unseen test values become missing."""
    frame = frame.copy()
    for column in frame.columns:
        if column in categories:
            frame[column] = pd.Categorical(frame[column].astype("string"), categories=categories[column])
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("int64") / 1e9
        elif pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    return frame


class StopAtDeadline(xgb.callback.TrainingCallback):
    """Ends boosting when the training share of the time budget is spent."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline

    def after_iteration(self, model, epoch, evals_log):
        if time.monotonic() > self.deadline:
            warn(f"time budget reached after {epoch + 1} rounds")
            return True
        return False


def predict(model, frame, rounds):
    """(class indexes, probabilities) for classification, (values, None) for regression;
    rounds None uses every tree."""
    iteration_range = (0, rounds) if rounds else None
    if CLASSIFICATION:
        probabilities = model.predict_proba(frame, iteration_range=iteration_range)
        return probabilities.argmax(axis=1), probabilities
    return model.predict(frame, iteration_range=iteration_range), None


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    train, test, columns, target = load_tables()
    text_columns = [c for c in columns if not (pd.api.types.is_numeric_dtype(train[c]) or pd.api.types.is_datetime64_any_dtype(train[c]))]
    categories = {c: sorted(train[c].dropna().astype(str).unique()) for c in text_columns}
    features = prepare(train[columns], categories)
    test_features = prepare(align_test(test, columns), categories)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)

    rounds = {0: 2000, 1: 600}.get(REDUCE, 200)
    params = dict(
        n_estimators=rounds,
        learning_rate=0.05 if REDUCE == 0 else 0.1,
        max_depth=6 if REDUCE < 2 else 4,
        subsample=0.9,
        colsample_bytree=0.9,
        tree_method="hist",
        enable_categorical=True,
        max_cat_to_onehot=8,
        random_state=SEED,
        n_jobs=N_JOBS,
    )
    Model = xgb.XGBClassifier if CLASSIFICATION else xgb.XGBRegressor

    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    # Leave 30% of the budget for the refit and the test predictions.
    fit_deadline = start + 0.7 * (deadline - start)
    model = Model(**params, early_stopping_rounds=50, callbacks=[StopAtDeadline(fit_deadline)])
    model.fit(x_train, y_train, eval_set=[(x_valid, y_valid)], verbose=False)
    best = int(getattr(model, "best_iteration", rounds - 1)) + 1
    predicted, probabilities = predict(model, x_valid, best)
    report(metric, y_valid, predicted, probabilities, n_classes, type(model).__name__)

    # Refit on every row with the early-stopped round count when the budget allows;
    # without an eval set the refit must not ask for early stopping.
    if time.monotonic() - start < 0.5 * (deadline - start):
        model = Model(**{**params, "n_estimators": best})
        model.fit(features, encoded, verbose=False)
        best = None
    predicted, probabilities = predict(model, test_features, best)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
