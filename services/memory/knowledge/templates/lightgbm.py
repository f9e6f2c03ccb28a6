"""mlzero program template: LightGBM gradient-boosted trees on one tabular table.

Reads train/test (csv, tsv, json, jsonl, parquet), keeps string columns as
pandas categories (LightGBM splits on them natively, missing values included),
early-stops on a seeded holdout, refits on all rows with the best number of
rounds, prints one MLZERO_RESULT line and writes the predictions file.
"""
# mlzero:include common.py


import lightgbm as lgb


def prepare(frame, categories):
    """LightGBM reads pandas categories natively; unseen test values become missing."""
    frame = frame.copy()
    for column in frame.columns:
        if column in categories:
            frame[column] = pd.Categorical(frame[column].astype("string"), categories=categories[column])
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("int64") / 1e9
        elif pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    return frame


def predict(model, frame, rounds):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    if CLASSIFICATION:
        probabilities = model.predict_proba(frame, num_iteration=rounds)
        return probabilities.argmax(axis=1), probabilities
    return model.predict(frame, num_iteration=rounds), None


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
        num_leaves=31 if REDUCE < 2 else 15,
        min_child_samples=min(20, max(2, len(train) // 50)),
        subsample=0.9,
        subsample_freq=1,
        colsample_bytree=0.9,
        random_state=SEED,
        n_jobs=N_JOBS,
        verbose=-1,
    )
    Model = lgb.LGBMClassifier if CLASSIFICATION else lgb.LGBMRegressor

    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    # Leave 30% of the budget for the refit and the test predictions.
    fit_deadline = start + 0.7 * (deadline - start)

    def stop_at_deadline(env):
        if time.monotonic() > fit_deadline:
            warn(f"time budget reached after {env.iteration + 1} rounds")
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    model = Model(**params)
    model.fit(
        x_train,
        y_train,
        eval_X=(x_valid,),
        eval_y=(y_valid,),
        callbacks=[lgb.early_stopping(50, verbose=False), stop_at_deadline],
    )
    best = max(1, model.best_iteration_ or rounds)
    predicted, probabilities = predict(model, x_valid, best)
    report(metric, y_valid, predicted, probabilities, n_classes, type(model).__name__)

    # Refit on every row with the early-stopped round count when the budget allows.
    if time.monotonic() - start < 0.5 * (deadline - start):
        model = Model(**{**params, "n_estimators": best})
        model.fit(features, encoded)
        best = None
    predicted, probabilities = predict(model, test_features, best)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
