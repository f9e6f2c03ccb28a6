"""mlzero program template: tables with free-text columns (text plus tabular).

Stage 1, a feature union: a ColumnTransformer joins word (and character)
TF-IDF of each free-text column with imputed, scaled numbers and one-hot
categories into one sparse matrix for LogisticRegression / Ridge.
Stage 2, at reduce_level 0 and 1: HistGradientBoosting learns from the raw
numbers, category codes, text lengths and the stage-1 model's out-of-fold
predictions (stacking), so thresholds and interactions in the tabular part
are caught. The better stage on a seeded holdout is kept and refitted on all
rows when the budget allows; prints one MLZERO_RESULT line and writes the
predictions file.
"""
# mlzero:include common.py


# mlzero:include text_features.py


from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

# Character n-grams only at full effort and below this many training characters.
CHAR_BUDGET = 20_000_000 if REDUCE == 0 else 0
FOLDS = {0: 5, 1: 3}.get(REDUCE, 0)


def split_columns(frame, columns):
    """(free text, short strings, numbers) among the feature columns."""
    text, categorical, numeric = column_kinds(frame, columns)
    if not text:
        warn("no column looks like free text: this is a plain table, which lightgbm or autogluon model better")
    return text, categorical, numeric


def text_union(text, categorical, numeric, frame):
    """Stage 1's features: the TF-IDF union, with character n-grams while the training text
    fits CHAR_BUDGET."""
    words = {0: 100_000, 1: 50_000}.get(REDUCE, 20_000)
    use_chars = sum(frame[c].str.len().sum() for c in text) <= CHAR_BUDGET
    return tfidf_union(text, categorical, numeric, frame, words, use_chars)


def text_lengths(frame):
    """Characters and words of each text column: the booster cannot read the text itself."""
    columns = []
    for column in frame.columns:
        values = frame[column].astype(str)
        columns += [values.str.len().to_numpy(float), values.str.split().str.len().to_numpy(float)]
    return np.column_stack(columns) if columns else np.zeros((len(frame), 0))


def tabular_union(text, categorical, numeric):
    """Stage 2's dense features: numbers as they are (NaN included), category codes
    (unseen values become missing), text lengths."""
    return ColumnTransformer([
        ("numeric", "passthrough", numeric),
        ("categorical", OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, max_categories=250,
        ), categorical),
        ("lengths", FunctionTransformer(text_lengths), text),
    ], sparse_threshold=0.0)


def linear_scores(model, matrix, n_classes):
    """The linear model's output as dense columns: P(class 1) for binary, every class's
    probability for multiclass (mapped through classes_, so a class missing from a fold
    keeps its column at 0), the prediction for regression."""
    if not CLASSIFICATION:
        return model.predict(matrix).reshape(-1, 1)
    probabilities = np.zeros((matrix.shape[0], n_classes))
    probabilities[:, model.classes_] = model.predict_proba(matrix)
    return probabilities[:, 1:] if n_classes == 2 else probabilities


def out_of_fold(matrix, target, strength, n_classes):
    """Each row scored by a linear model that did not see it, so the booster learns how far
    to trust the score. The TF-IDF fit (no labels involved) is shared by the folds."""
    Split = StratifiedKFold if CLASSIFICATION and target.value_counts().min() >= FOLDS else KFold
    scores = None
    for fit_rows, score_rows in Split(n_splits=FOLDS, shuffle=True, random_state=SEED).split(matrix, target):
        model = make_linear(strength).fit(matrix[fit_rows], target.iloc[fit_rows])
        fold = linear_scores(model, matrix[score_rows], n_classes)
        if scores is None:
            scores = np.zeros((matrix.shape[0], fold.shape[1]))
        scores[score_rows] = fold
    return scores


def make_booster(categorical_mask, rows):
    """Small trees with some L2: the linear score already carries most of the signal. Early
    stopping only where its 10% split is large enough to be trusted."""
    Model = HistGradientBoostingClassifier if CLASSIFICATION else HistGradientBoostingRegressor
    return Model(
        max_iter=300 if REDUCE == 0 else 150,
        learning_rate=0.05 if REDUCE == 0 else 0.1,
        max_leaf_nodes=15,
        l2_regularization=1.0,
        categorical_features=categorical_mask,
        early_stopping=rows >= 5000,
        validation_fraction=0.1,
        n_iter_no_change=30,
        random_state=SEED,
    )


class Model:
    """Stage 1 alone (booster None) or stage 2 on top of it, fitted on one frame."""

    def __init__(self, text, categorical, numeric, strength, stacked):
        self.columns = (text, categorical, numeric)
        self.strength = strength
        self.stacked = stacked

    def fit(self, frame, target, n_classes):
        text, categorical, numeric = self.columns
        self.union = text_union(text, categorical, numeric, frame)
        matrix = self.union.fit_transform(frame)
        self.linear = make_linear(self.strength).fit(matrix, target)
        self.booster = None
        if self.stacked:
            self.tabular = tabular_union(text, categorical, numeric)
            tabular = self.tabular.fit_transform(frame)
            scores = out_of_fold(matrix, target, self.strength, n_classes)
            # Columns: numbers, category codes, text lengths, then the linear scores.
            lengths = tabular.shape[1] - len(numeric) - len(categorical)
            mask = [False] * len(numeric) + [True] * len(categorical) + [False] * (lengths + scores.shape[1])
            self.booster = make_booster(mask, len(frame))
            self.booster.fit(np.hstack([tabular, scores]), target)
        return self

    def matrix(self, frame):
        return self.union.transform(frame)

    def name(self):
        linear = f"{type(self.linear).__name__} on TF-IDF+tabular"
        return f"{type(self.booster).__name__} stacked on {linear}" if self.booster is not None else linear


def predict(model, frame, n_classes):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    matrix = model.matrix(frame)
    if model.booster is not None:
        features = np.hstack([model.tabular.transform(frame), linear_scores(model.linear, matrix, n_classes)])
        estimator = model.booster
    else:
        features, estimator = matrix, model.linear
    if CLASSIFICATION:
        probabilities = np.zeros((features.shape[0], n_classes))
        probabilities[:, estimator.classes_] = estimator.predict_proba(features)
        return probabilities.argmax(axis=1), probabilities
    return estimator.predict(features), None


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    train, test, columns, target = load_tables()
    # Below ~20k rows OpenMP threads (the linear models' loss, HistGradientBoosting) cost more
    # in synchronisation than they give, and stall badly when the cores are shared.
    threadpool_limits(limits=1 if len(train) < 20_000 else N_JOBS, user_api="openmp")
    text, categorical, numeric = split_columns(train, columns)
    say(f"free-text columns: {text}; categorical: {categorical}; numeric: {numeric}")
    features = prepare(train[columns], text, categorical)
    test_features = prepare(align_test(test, columns), text, categorical)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)
    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    better = (lambda a, b: a < b) if metric in LOWER_IS_BETTER else (lambda a, b: a > b)
    budget = deadline - start

    def fit_and_score(strength, stacked):
        began = time.monotonic()
        model = Model(text, categorical, numeric, strength, stacked).fit(x_train, y_train, n_classes)
        seconds = time.monotonic() - began
        predicted, probabilities = predict(model, x_valid, n_classes)
        value = score(metric, y_valid, predicted, probabilities, n_classes)
        say(f"{model.name()} (strength {strength}): validation {metric} = {value:.4f}")
        return value, model, predicted, probabilities, seconds

    # Stage 1: the linear model on the feature union; a second strength at full effort when
    # the first fit took under 15% of the budget.
    best = None
    for strength in ([2.0, 8.0] if CLASSIFICATION else [1.0, 3.0])[: 2 if REDUCE == 0 else 1]:
        if best is not None and time.monotonic() - start > 0.15 * budget:
            warn("time budget: one regularisation strength only")
            break
        result = fit_and_score(strength, stacked=False)
        if best is None or better(result[0], best[0]):
            best = result
    linear_seconds = best[4]

    # Stage 2: the booster on the tabular columns and out-of-fold linear scores, when
    # reduce_level allows and its FOLDS + 1 linear fits end within 60% of the budget.
    if FOLDS and time.monotonic() - start + (FOLDS + 2) * linear_seconds < 0.6 * budget:
        try:
            result = fit_and_score(best[1].strength, stacked=True)
            if better(result[0], best[0]):
                best = result
        except Exception as error:  # MemoryError included: the linear model still stands
            warn(f"stacking failed ({type(error).__name__}: {error}); keeping the linear model")
    elif FOLDS:
        warn("time budget: skipping the boosting stage")
    _, model, predicted, probabilities, fit_seconds = best
    report(metric, y_valid, predicted, probabilities, n_classes, model.name())

    # Refit on every row when about 1.3 times the chosen model's fit still ends within 85% of
    # the budget, leaving the rest for the test predictions.
    if time.monotonic() - start + 1.3 * fit_seconds < 0.85 * budget:
        try:
            refit = Model(text, categorical, numeric, model.strength, stacked=model.booster is not None)
            model = refit.fit(features, encoded, n_classes)
        except Exception as error:  # the model fitted on the training split still predicts
            warn(f"refit on all rows failed ({type(error).__name__}: {error}); predicting with the holdout fit")
    else:
        warn("time budget: predicting with the model fitted on the training split")
    predicted, probabilities = predict(model, test_features, n_classes)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
