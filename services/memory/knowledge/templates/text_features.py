# Shared by the templates for free text (text-tfidf, tabular-text, text-transformer), after
# common.py: finding the free-text columns, preparing the frame, the TF-IDF feature union, and
# text-tfidf's linear model with its strength chosen on the holdout (text-transformer blends it).
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

# Sparse linear models call BLAS only on small vectors, where its threads cost more than
# they give (4-5x slower fits on 2 shared cores): one BLAS thread. main() sets OpenMP's.
threadpool_limits(limits=1, user_api="blas")

LOWER_IS_BETTER = {"log_loss", "rmse", "mse", "mae"}
# Tokens of one letter or digit count too ("a", "5"); scikit-learn's default pattern drops them.
TOKENS = r"(?u)\b\w+\b"
# Character n-grams cost about four features per character: the linear model on TF-IDF skips
# them above this many training characters.
LINEAR_CHAR_BUDGET = {0: 40_000_000, 1: 10_000_000}.get(REDUCE, 0)


def is_free_text(values):
    """Free text: strings of several words (or long ones) that rarely repeat. Short
    categoricals such as "red" or "NY" repeat and stay categorical."""
    values = values.dropna()
    if len(values) == 0 or pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return False
    sample = values.astype(str).sample(n=min(len(values), 5000), random_state=SEED)
    words = sample.str.split().str.len().mean()
    chars = sample.str.len().mean()
    return (words >= 3 or chars >= 40) and sample.nunique() >= 0.2 * len(sample)


def column_kinds(frame, columns):
    """(free text, short strings, numbers) among the feature columns; each template decides
    what to do when no column is free text."""
    text = [c for c in columns if is_free_text(frame[c])]
    numeric = [c for c in columns if c not in text and (
        pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_datetime64_any_dtype(frame[c])
    )]
    categorical = [c for c in columns if c not in text and c not in numeric]
    return text, categorical, numeric


def text_columns(frame, columns):
    """(free text, short strings, numbers) for a template that must read some text: with no
    free text found, the longest strings stand in for it."""
    text, categorical, numeric = column_kinds(frame, columns)
    if not text and categorical:
        # A text tool with no text found: the longest strings are the best guess.
        longest = max(categorical, key=lambda c: frame[c].dropna().astype(str).str.len().mean() if frame[c].notna().any() else 0)
        warn(f"no column looks like free text; treating {longest!r} as text")
        text, categorical = [longest], [c for c in categorical if c != longest]
    if not text:
        warn("no string columns: training on the other columns only")
    return text, categorical, numeric


def seconds(values):
    """Datetimes as seconds since 1970; NaT stays missing (astype("int64") would turn it into -9.2e18)."""
    values = pd.to_datetime(values, utc=True)
    return (values - pd.Timestamp(0, tz="UTC")).dt.total_seconds()


def prepare(frame, text, categorical):
    """TF-IDF needs str documents (NaN is "an invalid document"); encoders need uniform
    strings with NaN as the one missing marker; dates and booleans become numbers."""
    frame = frame.copy()
    for column in frame.columns:
        if column in text:
            frame[column] = frame[column].astype("string").fillna("").astype(str)
        elif column in categorical:
            values = frame[column].astype("string").astype(object)
            frame[column] = values.where(frame[column].notna(), np.nan)
        elif pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = seconds(frame[column])
        elif pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = frame[column].astype("float64")
    return frame


def tfidf_union(text, categorical, numeric, frame, max_words, use_chars):
    """One sparse matrix: word 1-2 gram (and, with use_chars, character 2-5 gram) TF-IDF per
    text column, at most max_words features each (each vectorizer gets the column name as a
    string, so it sees a 1-D column of documents), scaled numbers with missing-value
    indicators, one-hot short strings."""
    min_df = 2 if len(frame) >= 1000 else 1
    parts = []
    for column in text:
        parts.append((f"{column}_words", TfidfVectorizer(
            token_pattern=TOKENS, ngram_range=(1, 2), min_df=min_df, max_features=max_words,
            sublinear_tf=True, dtype=np.float32,
        ), column))
        if use_chars:
            parts.append((f"{column}_chars", TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 5), min_df=min_df, max_features=max_words,
                sublinear_tf=True, dtype=np.float32,
            ), column))
    if numeric:
        parts.append(("numeric", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric))
    if categorical:
        parts.append(("categorical", make_pipeline(
            SimpleImputer(strategy="constant", fill_value="__missing__"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, max_categories=100),
        ), categorical))
    return ColumnTransformer(parts, sparse_threshold=1.0)


def linear_union(text, categorical, numeric, frame):
    """The linear model's TF-IDF union, with character n-grams while the training text fits
    LINEAR_CHAR_BUDGET."""
    words = {0: 200_000, 1: 100_000}.get(REDUCE, 30_000)
    chars = int(sum(frame[c].str.len().sum() for c in text))
    use_chars = 0 < chars <= LINEAR_CHAR_BUDGET
    if text and not use_chars:
        warn(f"reduce_level {REDUCE}, {chars} characters: word n-grams only")
    return tfidf_union(text, categorical, numeric, frame, words, use_chars)


def make_linear(strength):
    """LogisticRegression (C = strength) or Ridge (alpha = strength)."""
    if CLASSIFICATION:
        return LogisticRegression(C=strength, max_iter=1000 if REDUCE < 2 else 300, random_state=SEED)
    return Ridge(alpha=strength)


def linear_predict(model, matrix):
    """(class indexes, probabilities) for classification, (values, None) for regression."""
    if CLASSIFICATION:
        probabilities = model.predict_proba(matrix)
        return probabilities.argmax(axis=1), probabilities
    return model.predict(matrix), None


def fit_linear(text, categorical, numeric, split, metric, n_classes, start, budget):
    """The linear model on the TF-IDF union, its strength chosen on the holdout while another
    fit still ends within half the budget; fewer strengths at higher reduce levels. `split` is
    holdout()'s (x_train, x_valid, y_train, y_valid). Returns a dict: union, model, strength,
    value (the validation score), predicted, probabilities, and the seconds the vectorizing
    and the chosen fit took."""
    x_train, x_valid, y_train, y_valid = split
    began = time.monotonic()
    union = linear_union(text, categorical, numeric, x_train)
    train_matrix = union.fit_transform(x_train)
    valid_matrix = union.transform(x_valid)
    vectorize_seconds = time.monotonic() - began
    say(f"{train_matrix.shape[1]} features")
    grid = [4.0, 1.0, 16.0] if CLASSIFICATION else [1.0, 0.3, 3.0]
    best = None
    for strength in grid[: {0: 3, 1: 2}.get(REDUCE, 1)]:
        if best is not None and time.monotonic() - start + best["fit_seconds"] > 0.5 * budget:
            warn("time budget: keeping the best strength so far")
            break
        began = time.monotonic()
        model = make_linear(strength).fit(train_matrix, y_train)
        fit_seconds = time.monotonic() - began
        predicted, probabilities = linear_predict(model, valid_matrix)
        value = score(metric, y_valid, predicted, probabilities, n_classes)
        say(f"strength {strength}: validation {metric} = {value:.4f}")
        if best is None or (value < best["value"] if metric in LOWER_IS_BETTER else value > best["value"]):
            best = dict(
                model=model, strength=strength, value=value, predicted=predicted, probabilities=probabilities, fit_seconds=fit_seconds,
            )
    return dict(best, union=union, vectorize_seconds=vectorize_seconds)

