"""mlzero program template: the fallback that always writes predictions.

Simple features only: numbers as they are (numbers written as text parsed),
dates as timestamps, short strings as category codes, free text as its
length, word count and the words that go most with the label. HistGradientBoosting learns from
them with a time-checked number of rounds. Each column is encoded on its own
and dropped with a warning when it cannot be; if the model still fails for
any reason, the majority class (class priors as probabilities) or the mean
stands in. Scores a seeded holdout, prints one MLZERO_RESULT line and writes
the predictions file in every case.
"""
# mlzero:include common.py


from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.feature_selection import chi2, r_regression
from threadpoolctl import threadpool_limits

# Tokens of one letter or digit count too; a text column's TOP_WORDS most label-related words become features.
TOKENS = r"(?u)\b\w+\b"
TOP_WORDS = {0: 100, 1: 50}.get(REDUCE, 20)
MAX_CODES = 250  # HistGradientBoosting bins a category column into at most 255 values
ROUNDS = {0: 500, 1: 250}.get(REDUCE, 100)


def is_free_text(values):
    """Free text: strings of several words (or long ones) that rarely repeat."""
    sample = values.dropna().astype(str)
    sample = sample.sample(n=min(len(sample), 5000), random_state=SEED)
    if len(sample) == 0:
        return False
    words = sample.str.split().str.len().mean()
    return (words >= 3 or sample.str.len().mean() >= 40) and sample.nunique() >= 0.2 * len(sample)


def to_numbers(values):
    """Numbers written as text ("1,234", "12%", "$5") as floats; anything else missing."""
    cleaned = values.astype("string").str.replace(r"[,\s$€£%]", "", regex=True)
    return pd.to_numeric(cleaned, errors="coerce").astype("float64")


def looks_numeric(values):
    """A string column whose values are nearly all numbers written as text."""
    present = values.dropna()
    return len(present) > 0 and to_numbers(present).notna().mean() >= 0.95


def seconds(values):
    """Datetimes as seconds since 1970; NaT stays missing."""
    values = pd.to_datetime(values, utc=True)
    return (values - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


class ColumnFeatures:
    """The features of one column, fitted on training rows: a kind ("number", "date",
    "numeric text", "category", "text") and what transform() needs to repeat it."""

    def __init__(self, column, values, target):
        self.column = column
        self.words = None
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            self.kind = "number"
        elif pd.api.types.is_datetime64_any_dtype(values):
            self.kind = "date"
        elif looks_numeric(values):
            self.kind = "numeric text"
        elif is_free_text(values):
            self.kind = "text"
            try:
                self.fit_words(documents(values), target)
            except ValueError as error:  # e.g. "empty vocabulary": keep the lengths only
                warn(f"column {column!r}: no word features ({error})")
        else:
            self.kind = "category"
            counts = values.dropna().astype(str).value_counts()
            self.codes = {value: code for code, value in enumerate(counts.index[:MAX_CODES])}

    def fit_words(self, texts, target):
        """The TOP_WORDS words (of the 20k most frequent) that go most with the label: chi2
        for classes, correlation for a number. The most frequent words alone are mostly
        filler ("the", "and") and can miss the signal entirely."""
        self.words = CountVectorizer(
            token_pattern=TOKENS, max_features=20_000, min_df=2 if len(texts) >= 50 else 1, binary=True, dtype=np.float32,
        ).fit(texts)
        counts = self.words.transform(texts)
        relevance = chi2(counts, target)[0] if CLASSIFICATION else np.abs(r_regression(counts, target))
        self.keep = np.argsort(-np.nan_to_num(relevance), kind="stable")[:TOP_WORDS]

    def names(self):
        if self.kind == "text":
            words = [] if self.words is None else [f"{self.column}:{w}" for w in self.words.get_feature_names_out()[self.keep]]
            return [f"{self.column}:chars", f"{self.column}:words"] + words
        return [self.column]

    def transform(self, values):
        if self.kind == "number":
            return values.astype("float64").to_numpy().reshape(-1, 1)
        if self.kind == "date":
            return seconds(values).to_numpy().reshape(-1, 1)
        if self.kind == "numeric text":
            return to_numbers(values).to_numpy().reshape(-1, 1)
        if self.kind == "category":
            # Unseen and rare values become missing, which the booster routes on its own.
            codes = values.astype(str).map(self.codes).where(values.notna())
            return codes.astype("float64").to_numpy().reshape(-1, 1)
        texts = documents(values)
        parts = [texts.str.len().to_numpy(float).reshape(-1, 1), texts.str.split().str.len().to_numpy(float).reshape(-1, 1)]
        if self.words is not None:
            parts.append(self.words.transform(texts)[:, self.keep].toarray())
        return np.hstack(parts)


def documents(values):
    """Text as str, missing text as "" (CountVectorizer rejects NaN: "np.nan is an invalid document")."""
    return values.astype("string").fillna("").astype(str)


class Features:
    """Every usable feature column; a column that fails to encode is dropped with a warning."""

    def fit(self, frame, target):
        self.columns = []
        for column in frame.columns:
            try:
                encoder = ColumnFeatures(column, frame[column], target)
                encoder.transform(frame[column].iloc[:5])
                self.columns.append(encoder)
            except Exception as error:
                warn(f"dropping column {column!r}: {type(error).__name__}: {error}")
        say("features: " + ", ".join(f"{c.column} ({c.kind})" for c in self.columns))
        return self

    def transform(self, frame):
        parts = [encoder.transform(frame[encoder.column]) for encoder in self.columns]
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))

    def categorical_mask(self):
        return [c.kind == "category" for c in self.columns for _ in c.names()]


def fit_booster(matrix, target, mask, fit_deadline):
    """HistGradientBoosting grown 50 rounds at a time until it stops early, reaches its
    round limit or the deadline passes."""
    if matrix.shape[1] == 0:
        raise ValueError("no usable feature column")
    # Without early stopping (under 1000 rows) fewer rounds keep it from overfitting.
    rounds = ROUNDS if len(target) >= 1000 else min(ROUNDS, 150)
    Model = HistGradientBoostingClassifier if CLASSIFICATION else HistGradientBoostingRegressor
    model = Model(
        max_iter=50,
        learning_rate=0.1,
        categorical_features=mask if any(mask) else None,
        early_stopping=len(target) >= 1000,
        validation_fraction=0.1,
        n_iter_no_change=20,
        warm_start=True,
        random_state=SEED,
    )
    while True:
        model.fit(matrix, target)
        stopped = model.n_iter_ < model.max_iter
        if stopped or model.max_iter >= rounds or time.monotonic() > fit_deadline:
            break
        model.set_params(max_iter=model.max_iter + 50)
    return model


class Constant:
    """The majority class (the class priors as probabilities) or the mean: needs no feature."""

    def __init__(self, target, n_classes):
        if CLASSIFICATION:
            self.priors = np.bincount(np.asarray(target, dtype=int), minlength=n_classes) / len(target)
        else:
            self.mean = float(np.mean(target))


def predict(model, frame, features, n_classes):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    if isinstance(model, Constant):
        if CLASSIFICATION:
            probabilities = np.tile(model.priors, (len(frame), 1))
            return probabilities.argmax(axis=1), probabilities
        return np.full(len(frame), model.mean), None
    matrix = features.transform(frame)
    if CLASSIFICATION:
        probabilities = np.zeros((len(frame), n_classes))
        probabilities[:, model.classes_] = model.predict_proba(matrix)
        return probabilities.argmax(axis=1), probabilities
    return model.predict(matrix), None


def train_model(frame, target, n_classes, fit_deadline):
    """(features, model, name): the booster, or the constant when anything fails."""
    try:
        features = Features().fit(frame, target)
        model = fit_booster(features.transform(frame), target, features.categorical_mask(), fit_deadline)
        return features, model, f"{type(model).__name__} ({model.n_iter_} rounds)"
    except Exception as error:  # MemoryError included: the constant needs no memory
        fallback = "majority class" if CLASSIFICATION else "mean"
        warn(f"HistGradientBoosting failed ({type(error).__name__}: {error}); predicting the {fallback}")
        return None, Constant(target, n_classes), "majority-class baseline" if CLASSIFICATION else "mean baseline"


def split(features, target):
    """The common holdout; a plain random split when it cannot stratify; the training rows
    themselves when there are too few to hold any out."""
    try:
        return holdout(features, target)
    except ValueError as error:
        warn(f"holdout failed ({error})")
    if len(target) >= 10:
        return train_test_split(features, target, test_size=0.2, random_state=SEED)
    warn("too few rows to hold out: validating on the training rows")
    return features, features, target, target


def report_safely(metric, truth, predicted, probabilities, n_classes, name):
    """Reports the metric, or accuracy / rmse when it cannot be computed on this holdout
    (roc_auc of a one-class holdout is NaN, with a warning only)."""
    try:
        value = score(metric, truth, predicted, probabilities, n_classes)
        if not np.isfinite(value):
            raise ValueError(f"{metric} is {value}")
        report(metric, truth, predicted, probabilities, n_classes, name)
    except Exception as error:
        fallback = "accuracy" if CLASSIFICATION else "rmse"
        warn(f"{metric} cannot be computed here ({error}); reporting {fallback}")
        report(fallback, truth, predicted, probabilities, n_classes, name)


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    train, test, columns, target = load_tables()
    # Below ~20k rows HistGradientBoosting's OpenMP threads cost more in synchronisation than
    # they give, and stall badly when the cores are shared.
    threadpool_limits(limits=1 if len(train) < 20_000 else N_JOBS, user_api="openmp")
    frame = train[columns]
    test_frame = align_test(test, columns)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)
    x_train, x_valid, y_train, y_valid = split(frame, encoded)

    # Leave 40% of the budget for the refit and the test predictions.
    features, model, name = train_model(x_train, y_train, n_classes, start + 0.6 * (deadline - start))
    try:
        predicted, probabilities = predict(model, x_valid, features, n_classes)
    except Exception as error:
        warn(f"predicting the holdout failed ({type(error).__name__}: {error}); using the constant")
        features, model, name = None, Constant(y_train, n_classes), "constant baseline"
        predicted, probabilities = predict(model, x_valid, features, n_classes)
    report_safely(metric, y_valid, predicted, probabilities, n_classes, name)

    # Refit on every row when the first fit left more than half the budget.
    if time.monotonic() - start < 0.5 * (deadline - start):
        features, model, _ = train_model(frame, encoded, n_classes, start + 0.85 * (deadline - start))
    try:
        predicted, probabilities = predict(model, test_frame, features, n_classes)
    except Exception as error:
        warn(f"predicting the test rows failed ({type(error).__name__}: {error}); using the constant")
        predicted, probabilities = predict(Constant(encoded, n_classes), test_frame, None, n_classes)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
