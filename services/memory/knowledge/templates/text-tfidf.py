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


from sklearn.linear_model import LogisticRegression, Ridge

# Character n-grams cost about four features per character: skip them above this many training characters.
CHAR_BUDGET = {0: 40_000_000, 1: 10_000_000}.get(REDUCE, 0)


def split_columns(frame, columns):
    """(free text, short strings, numbers) among the feature columns; with no free text
    found, the longest strings stand in for it."""
    text, categorical, numeric = column_kinds(frame, columns)
    if not text and categorical:
        # A text tool with no text found: the longest strings are the best guess.
        longest = max(categorical, key=lambda c: frame[c].dropna().astype(str).str.len().mean() if frame[c].notna().any() else 0)
        warn(f"no column looks like free text; treating {longest!r} as text")
        text, categorical = [longest], [c for c in categorical if c != longest]
    if not text:
        warn("no string columns: training on the other columns only")
    return text, categorical, numeric


def build_features(text, categorical, numeric, frame):
    """The TF-IDF union, with character n-grams while the training text fits CHAR_BUDGET."""
    words = {0: 200_000, 1: 100_000}.get(REDUCE, 30_000)
    chars = int(sum(frame[c].str.len().sum() for c in text))
    use_chars = 0 < chars <= CHAR_BUDGET
    if text and not use_chars:
        warn(f"reduce_level {REDUCE}, {chars} characters: word n-grams only")
    return tfidf_union(text, categorical, numeric, frame, words, use_chars)


def strengths():
    """Candidate C (LogisticRegression) or alpha (Ridge); fewer at higher reduce levels."""
    grid = [4.0, 1.0, 16.0] if CLASSIFICATION else [1.0, 0.3, 3.0]
    return grid[: {0: 3, 1: 2}.get(REDUCE, 1)]


def make_model(strength):
    if CLASSIFICATION:
        return LogisticRegression(C=strength, max_iter=1000 if REDUCE < 2 else 300, random_state=SEED)
    return Ridge(alpha=strength)


def predict(model, matrix):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    if CLASSIFICATION:
        probabilities = model.predict_proba(matrix)
        return probabilities.argmax(axis=1), probabilities
    return model.predict(matrix), None


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    train, test, columns, target = load_tables()
    # Below ~20k rows OpenMP threads (in the linear models' loss) cost more in synchronisation
    # than they give, and stall badly when the cores are shared.
    threadpool_limits(limits=1 if len(train) < 20_000 else N_JOBS, user_api="openmp")
    text, categorical, numeric = split_columns(train, columns)
    say(f"free-text columns: {text}; categorical: {categorical}; numeric: {numeric}")
    features = prepare(train[columns], text, categorical)
    test_features = prepare(align_test(test, columns), text, categorical)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)

    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    budget = deadline - start
    began = time.monotonic()
    union = build_features(text, categorical, numeric, x_train)
    train_matrix = union.fit_transform(x_train)
    valid_matrix = union.transform(x_valid)
    vectorize_seconds = time.monotonic() - began
    say(f"{train_matrix.shape[1]} features")

    # Choose the regularisation on the holdout while another fit still ends within half the budget.
    best = None
    for strength in strengths():
        if best is not None and time.monotonic() - start + best[5] > 0.5 * budget:
            warn("time budget: keeping the best strength so far")
            break
        began = time.monotonic()
        model = make_model(strength).fit(train_matrix, y_train)
        fit_seconds = time.monotonic() - began
        predicted, probabilities = predict(model, valid_matrix)
        value = score(metric, y_valid, predicted, probabilities, n_classes)
        say(f"strength {strength}: validation {metric} = {value:.4f}")
        if best is None or (value < best[0] if metric in LOWER_IS_BETTER else value > best[0]):
            best = (value, strength, model, predicted, probabilities, fit_seconds)
    _, strength, model, predicted, probabilities, fit_seconds = best
    name = f"{type(model).__name__} on TF-IDF" if text else type(model).__name__
    report(metric, y_valid, predicted, probabilities, n_classes, name)

    # Refit on every row when it fits the budget: about 1.3 times the vectorizing and the fit
    # on the training split, with the rest kept for the test predictions.
    if time.monotonic() - start + 1.3 * (vectorize_seconds + fit_seconds) < 0.85 * budget:
        union = build_features(text, categorical, numeric, features)
        model = make_model(strength).fit(union.fit_transform(features), encoded)
    else:
        warn("time budget: predicting with the model fitted on the training split")
    predicted, probabilities = predict(model, union.transform(test_features))
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
