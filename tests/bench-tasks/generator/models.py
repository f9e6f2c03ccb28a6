"""Trivial baselines and reference models. A reference is what a competent solution gets on the
same split: for tables the better of gradient boosting and a regularised linear model by 3-fold
cross-validation, for text TF-IDF with a linear model tuned the same way."""
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler


def class_priors(labels, classes, rows):
    """Each class's share of the training labels, for every test row (ties in argmax: the first class)."""
    shares = pd.Series(labels).astype(str).value_counts(normalize=True)
    return pd.DataFrame({name: np.full(rows, float(shares.get(name, 0.0))) for name in classes})


def constant(value, rows):
    return np.full(rows, float(value))


def best_constant(metric, values, rows):
    """The constant a trivial regressor predicts: the median for MAE, the mean otherwise."""
    values = pd.Series(values, dtype="float64")
    return constant(values.median() if metric == "mae" else values.mean(), rows), "training median" if metric == "mae" else "training mean"


def seasonal_naive(history, season, horizon):
    """The last full season repeated over the horizon."""
    history = np.asarray(history, dtype="float64")
    return np.array([history[len(history) - season + step % season] for step in range(horizon)])


def kinds(frame, features):
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])]
    return numeric, [c for c in features if c not in numeric]


def _folds(problem_type, seed):
    if problem_type == "regression":
        return KFold(3, shuffle=True, random_state=seed)
    return StratifiedKFold(3, shuffle=True, random_state=seed)


def _scoring(problem_type):
    return "neg_root_mean_squared_error" if problem_type == "regression" else "neg_log_loss"


def _boosting(numeric, categorical, problem_type, seed):
    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
    prepare = ColumnTransformer([("num", "passthrough", numeric), ("cat", encode, categorical)])
    mask = [False] * len(numeric) + [True] * len(categorical)
    model_class = HistGradientBoostingRegressor if problem_type == "regression" else HistGradientBoostingClassifier
    return make_pipeline(prepare, model_class(max_iter=300, learning_rate=0.08, categorical_features=mask, early_stopping=True,
                                                 n_iter_no_change=20, random_state=seed))


def _linear_features(numeric, categorical, text=()):
    parts = [("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)]
    if categorical:
        parts.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), categorical))
    for column in text:
        parts.append((f"text_{column}", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), column))
    return ColumnTransformer(parts)


def _linear(numeric, categorical, problem_type, text=()):
    estimator = Ridge() if problem_type == "regression" else LogisticRegression(max_iter=5000)
    return make_pipeline(_linear_features(numeric, categorical, text), estimator)


def _output(model, test, features, problem_type):
    if problem_type == "regression":
        return model.predict(test[features])
    classes = [str(value) for value in model.classes_]
    return pd.DataFrame(model.predict_proba(test[features]), columns=classes)


def tabular_reference(train, test, features, label, problem_type, seed):
    """(name, output) of the better of HistGradientBoosting and a linear model by 3-fold CV
    (log loss or RMSE), refitted on every training row; output as TaskWriter.finish takes it."""
    numeric, categorical = kinds(train, features)
    target = train[label] if problem_type == "regression" else train[label].astype(str)
    candidates = {
        "HistGradientBoosting": _boosting(numeric, categorical, problem_type, seed),
        "ridge" if problem_type == "regression" else "logistic regression": _linear(numeric, categorical, problem_type),
    }
    cv = {name: cross_val_score(model, train[features], target, cv=_folds(problem_type, seed), scoring=_scoring(problem_type)).mean()
          for name, model in candidates.items()}
    best = max(cv, key=cv.get)
    model = candidates[best].fit(train[features], target)
    others = ", ".join(name for name in cv if name != best)
    return f"{best} (beat {others} in 3-fold CV)", _output(model, test, features, problem_type)


def text_reference(train, test, text, numeric, categorical, label, problem_type, seed):
    """(name, output) of TF-IDF word 1-2 grams per text column, one-hot categoricals and scaled
    numbers into logistic regression or ridge, the strength tuned by 3-fold CV."""
    features = [*text, *numeric, *categorical]
    target = train[label] if problem_type == "regression" else train[label].astype(str)
    pipeline = _linear(numeric, categorical, problem_type, text)
    step = pipeline.steps[-1][0]
    grid = {f"{step}__alpha": [0.1, 1, 10]} if problem_type == "regression" else {f"{step}__C": [1, 4, 16]}
    search = GridSearchCV(pipeline, grid, cv=_folds(problem_type, seed), scoring=_scoring(problem_type)).fit(train[features], target)
    kind = "ridge" if problem_type == "regression" else "logistic regression"
    strength = next(iter(search.best_params_.values()))
    return f"TF-IDF + {kind} ({'alpha' if problem_type == 'regression' else 'C'}={strength} by 3-fold CV)", _output(search.best_estimator_, test, features, problem_type)
