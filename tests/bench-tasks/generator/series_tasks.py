"""Time-series tasks: generated seasonal series with a trend, to forecast past their end.
The trivial baseline is seasonal-naive; the reference fits trend and season by least squares."""
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

from models import seasonal_naive
from task_writer import TaskWriter


def trend_season_forecast(values, seasons, future_seasons, period, window, covariates=None, future_covariates=None):
    """Least squares on a linear trend, one dummy per season (0..period-1) and any known covariates
    over the last `window` steps, extrapolated over the future steps."""
    def known(columns, rows):
        return np.zeros((rows, 0)) if columns is None else np.asarray(columns, dtype="float64").reshape(rows, -1)

    history = known(covariates, len(values))[-window:]
    future = known(future_covariates, len(future_seasons))
    values = np.asarray(values, dtype="float64")[-window:]
    seasons = np.asarray(seasons)[-window:]

    def design(step, season, extra):
        return np.column_stack([step, *(season == k for k in range(period)), extra]).astype(float)

    steps = np.arange(len(values))
    model = LinearRegression().fit(design(steps, seasons, history), values)
    ahead = np.arange(len(values), len(values) + len(future_seasons))
    return model.predict(design(ahead, np.asarray(future_seasons), future))


def store_sales(root):
    """Many daily series (stores): weekly pattern, trend, promotions known ahead, noise; forecast 14 days; MAE."""
    rng = np.random.RandomState(401)
    stores, days, horizon = 12, 420, 14
    dates = pd.date_range("2023-01-02", periods=days + horizon, freq="D")
    rows, future = [], []
    for store in range(stores):
        level = rng.uniform(200, 1200)
        weekly = 1 + rng.uniform(0.1, 0.4) * np.array([-0.3, -0.2, -0.1, 0.0, 0.3, 0.8, -0.5]) + rng.normal(0, 0.03, 7)
        growth = rng.uniform(-0.2, 0.6) / 365
        promo = (rng.rand(len(dates)) < 0.2).astype(int)
        values = level * (1 + growth * np.arange(len(dates))) * weekly[dates.dayofweek] * (1 + 0.4 * promo)
        values = np.round(np.maximum(values + rng.normal(0, 0.04 * level, len(dates)), 0), 1)
        name = f"S{store + 1:02d}"
        cells = [{"store": name, "date": d.strftime("%Y-%m-%d"), "promo": p, "sales": v} for d, p, v in zip(dates, promo, values)]
        rows += cells[:days]
        future += cells[days:]
    train, test = pd.DataFrame(rows), pd.DataFrame(future)
    test.insert(0, "id", np.arange(len(test)) + 1)
    w = TaskWriter(root, "store-sales", modality="time_series", problem_type="regression", metric="mae",
                   label="sales", keys=["id"], source="generated (level x weekly pattern x trend x promotions + noise, 12 stores)",
                   form="CSV long table (store, date, promo, sales), test rows with an id and the planned promotions, sample submission, description.md")
    w.table("train", "train.csv", train)
    w.table("test", "test.csv", test[["id", "store", "date", "promo"]])
    w.table("sample_submission", "sample_submission.csv", test[["id"]].assign(sales=0.0))
    w.text("description", "description.md",
           "# Store sales forecast\n\ntrain.csv holds the daily sales of 12 stores and whether a promotion ran that day. "
           f"Forecast the sales of each store for the {horizon} days after the last date, for every (store, date) row of "
           "test.csv, which also gives the promotions planned.\n\n"
           "Submissions are evaluated on the mean absolute error.\n")
    trivial, reference = [], []
    for name, history in train.groupby("store", sort=False):
        wanted = test[test["store"] == name]
        trivial.append(seasonal_naive(history["sales"], 7, len(wanted)))
        reference.append(trend_season_forecast(history["sales"], pd.to_datetime(history["date"]).dt.dayofweek.to_numpy(),
                                               pd.to_datetime(wanted["date"]).dt.dayofweek.to_numpy(), 7, 16 * 7,
                                               history["promo"], wanted["promo"]))
    return w.finish(test, np.concatenate(trivial), "seasonal naive (last week repeated)", np.concatenate(reference),
                    "per-store least squares: linear trend + day-of-week dummies + promotion over the last 16 weeks")


def monthly_demand(root):
    """One monthly series with a trend and a yearly season; forecast 12 months; no id, no description (rows keyed by month)."""
    rng = np.random.RandomState(402)
    months, horizon = 144, 12
    dates = pd.date_range("2012-01-01", periods=months + horizon, freq="MS")
    t = np.arange(len(dates))
    values = 1000 + 8 * t + 150 * np.sin(2 * np.pi * t / 12) + 60 * np.cos(4 * np.pi * t / 12) + rng.normal(0, 40, len(dates))
    frame = pd.DataFrame({"month": dates.strftime("%Y-%m-%d"), "units_sold": np.round(values)})
    train, test = frame.iloc[:months].reset_index(drop=True), frame.iloc[months:].reset_index(drop=True)
    w = TaskWriter(root, "monthly-demand", modality="time_series", problem_type="regression", metric="rmse",
                   label="units_sold", keys=["month"], source="generated (trend + yearly season + noise)",
                   form="CSV single series, test file of future months only, no id column, no description")
    w.table("train", "train.csv", train)
    w.table("test", "test.csv", test[["month"]])
    trivial = seasonal_naive(train["units_sold"], 12, horizon)
    reference = trend_season_forecast(train["units_sold"], dates[:months].month.to_numpy() - 1, dates[months:].month.to_numpy() - 1, 12, months)
    return w.finish(test, trivial, "seasonal naive (last year repeated)", reference,
                    "least squares: linear trend + month dummies over the whole history")


TASKS = [store_sales, monthly_demand]
