"""mlzero program template: TF-IDF n-grams with a linear model, for free text.

Finds the free-text columns itself (strings of several words that rarely
repeat, as opposed to short categoricals), turns each into word 1-2 gram and
character 2-5 gram TF-IDF features, adds the other columns (numbers imputed
and scaled, short strings one-hot), and fits LogisticRegression
(classification) or Ridge (regression). The regularisation strength is chosen
on a seeded holdout; the model is refitted on all rows when the budget
allows, prints one MLZERO_RESULT line and writes the predictions file.
"""
# mlzero:include common.py


# mlzero:include text_features.py


def predict(union, model, frame):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    return linear_predict(model, union.transform(frame))


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    train, test, columns, target = load_tables()
    # Below ~20k rows OpenMP threads (in the linear models' loss) cost more in synchronisation
    # than they give, and stall badly when the cores are shared.
    threadpool_limits(limits=1 if len(train) < 20_000 else N_JOBS, user_api="openmp")
    text, categorical, numeric = text_columns(train, columns)
    say(f"free-text columns: {text}; categorical: {categorical}; numeric: {numeric}")
    features = prepare(train[columns], text, categorical)
    test_features = prepare(align_test(test, columns), text, categorical)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)

    split = holdout(features, encoded)
    budget = deadline - start
    # The regularisation strength is chosen on the holdout (fit_linear, in text_features).
    linear = fit_linear(text, categorical, numeric, split, metric, n_classes, start, budget)
    union, model = linear["union"], linear["model"]
    name = f"{type(model).__name__} on TF-IDF" if text else type(model).__name__
    report(metric, split[3], linear["predicted"], linear["probabilities"], n_classes, name)

    # Refit on every row when it fits the budget: about 1.3 times the vectorizing and the fit
    # on the training split, with the rest kept for the test predictions.
    if time.monotonic() - start + 1.3 * (linear["vectorize_seconds"] + linear["fit_seconds"]) < 0.85 * budget:
        union = linear_union(text, categorical, numeric, features)
        model = make_linear(linear["strength"]).fit(union.fit_transform(features), encoded)
    else:
        warn("time budget: predicting with the model fitted on the training split")
    predicted, probabilities = predict(union, model, test_features)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
