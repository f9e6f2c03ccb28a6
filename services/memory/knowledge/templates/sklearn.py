"""mlzero program template: scikit-learn pipeline on one tabular table.

A ColumnTransformer prepares numeric and string columns (missing values
included); HistGradientBoosting is the model at full effort, a linear model
(LogisticRegression / Ridge on scaled, one-hot features) at reduce_level >= 2.
Scores a seeded holdout, refits on all rows, prints one MLZERO_RESULT line and
writes the predictions file.
"""
# mlzero:include common.py


from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler


def prepare(frame, text_columns):
    """Encoders need each string column uniformly text, with NaN as the one missing marker."""
    frame = frame.copy()
    for column in frame.columns:
        if column in text_columns:
            values = frame[column].astype("string").astype(object)
            frame[column] = values.where(frame[column].notna(), np.nan)
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].astype("int64") / 1e9
        elif pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    return frame


def build_model(numeric, text, rows):
    """HistGradientBoosting at full effort; a linear model when reduce_level asks for less."""
    if REDUCE >= 2:
        prepare_columns = ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
            ("text", make_pipeline(
                SimpleImputer(strategy="constant", fill_value="__missing__"),
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=50),
            ), text),
        ])
        model = LogisticRegression(max_iter=1000, random_state=SEED) if CLASSIFICATION else Ridge(alpha=1.0)
        return make_pipeline(prepare_columns, model)
    # HistGradientBoosting handles NaN itself; categories are ordinal codes it splits on as categories.
    prepare_columns = ColumnTransformer([
        ("numeric", "passthrough", numeric),
        ("text", OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, max_categories=250,
        ), text),
    ])
    Model = HistGradientBoostingClassifier if CLASSIFICATION else HistGradientBoostingRegressor
    model = Model(
        max_iter=500 if REDUCE == 0 else 200,
        learning_rate=0.1,
        categorical_features=[False] * len(numeric) + [True] * len(text),
        early_stopping=rows >= 1000,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=SEED,
    )
    return make_pipeline(prepare_columns, model)


def predict(model, frame):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    if CLASSIFICATION:
        probabilities = model.predict_proba(frame)
        return probabilities.argmax(axis=1), probabilities
    return model.predict(frame), None


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    train, test, columns, target = load_tables()
    text = [c for c in columns if not (
        pd.api.types.is_numeric_dtype(train[c]) or pd.api.types.is_datetime64_any_dtype(train[c])
    )]
    numeric = [c for c in columns if c not in text]
    features = prepare(train[columns], text)
    test_features = prepare(align_test(test, columns), text)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)

    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    model = build_model(numeric, text, len(x_train))
    model.fit(x_train, y_train)
    predicted, probabilities = predict(model, x_valid)
    report(metric, y_valid, predicted, probabilities, n_classes, type(model[-1]).__name__)

    # Refit on every row when the first fit left more than half the budget.
    if time.monotonic() - start < 0.5 * (deadline - start):
        model = build_model(numeric, text, len(features))
        model.fit(features, encoded)
    predicted, probabilities = predict(model, test_features)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
