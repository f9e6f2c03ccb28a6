# Shared by the templates for free text (text-tfidf, tabular-text), after common.py: finding
# the free-text columns, preparing the frame and the TF-IDF feature union.
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

# Sparse linear models call BLAS only on small vectors, where its threads cost more than
# they give (4-5x slower fits on 2 shared cores): one BLAS thread. main() sets OpenMP's.
threadpool_limits(limits=1, user_api="blas")

LOWER_IS_BETTER = {"log_loss", "rmse", "mse", "mae"}
# Tokens of one letter or digit count too ("a", "5"); scikit-learn's default pattern drops them.
TOKENS = r"(?u)\b\w+\b"


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
