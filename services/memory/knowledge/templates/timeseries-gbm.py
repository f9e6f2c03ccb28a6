"""mlzero program template: one global LightGBM forecaster for many time series.

Reads a long table (item, time stamp, target, optional known covariates) and an
optional table of static item features, puts every item on the regular time
grid of the task's frequency, and trains one LightGBM model over all items that
forecasts each of the next `horizon` steps directly from a forecast origin:
lags, rolling windows and the seasonal-naive value, all divided by the item's
recent level, plus the step number, calendar features of the target step, the
item, its static features and the known covariates. Holds out the last
`horizon` steps of every item, scores the model and a seasonal-naive baseline
on them, prints one MLZERO_RESULT line for the better one and writes its
forecasts: one row per (item, future time stamp).
"""
# mlzero:include common.py


import math
import warnings

import lightgbm as lgb
from pandas.tseries.frequencies import to_offset

TS = CONFIG.get("timeseries") or {}
ITEM = TS.get("item_column")
TIME = TS.get("timestamp_column")
TARGET = CONFIG["label_column"]
# The long table always gets an item column; a single series is item "0".
ITEM_KEY = ITEM or "__mlzero_item__"
# Every metric here is an error: lower is better.
FORECAST_METRICS = ("mase", "rmsse", "smape", "mape", "wape", "mae", "rmse", "mse")


def forecast_metric():
    metric = str(CONFIG["metric"]).lower()
    if metric in FORECAST_METRICS:
        return metric
    warn(f"metric {CONFIG['metric']!r} is not a forecasting error computed here; reporting mase")
    return "mase"


def read_series_table(path, fmt):
    """Item ids and row ids stay text ("007" must not become 7)."""
    text = {column: str for column in (ITEM, CONFIG["id_column"]) if column}
    if fmt in ("csv", "tsv"):
        frame = pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=text or None, low_memory=False)
    else:
        frame = read_table(path, fmt)
    for column in text:
        if column in frame.columns:
            frame[column] = frame[column].where(frame[column].isna(), frame[column].astype(str))
    return frame


# Integer time stamps that are not years are step numbers: day `k` after this origin. Both are
# written back as integers in the rows this program makes.
STEP_ORIGIN = pd.Timestamp("2000-01-01")
INTEGER_TIMES = {"kind": None}


def parse_times(values, where):
    """Time stamps as datetime64: integer years become 1 January, other integers step numbers
    (days after STEP_ORIGIN), mixed UTC offsets become UTC, mixed formats are parsed one by one."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_integer_dtype(values) or (pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all()):
        if values.dropna().between(1000, 2999).all():
            INTEGER_TIMES["kind"] = "years"
            return pd.to_datetime(values.astype("Int64").astype("string"), format="%Y")
        INTEGER_TIMES["kind"] = "steps"
        return STEP_ORIGIN + pd.to_timedelta(values, unit="D")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            parsed = pd.to_datetime(values)
    except (ValueError, TypeError) as error:
        if "utc=True" in str(error):
            parsed = pd.Series(dtype=object)
        else:
            warn(f"{where}: time stamps do not share one format ({str(error).splitlines()[0]}); parsing each on its own")
            parsed = pd.to_datetime(values, format="mixed")
    if parsed.dtype == object:
        warn(f"{where}: time stamps mix UTC offsets; converting them to UTC")
        parsed = pd.to_datetime(values, utc=True, format="mixed")
    return parsed


def with_item_key(frame, where):
    if TIME not in frame.columns:
        raise KeyError(f"time stamp column {TIME!r} not found in the {where} file; columns: {list(frame.columns)}")
    frame = frame.copy()
    if ITEM:
        if ITEM not in frame.columns:
            raise KeyError(f"item column {ITEM!r} not found in the {where} file; columns: {list(frame.columns)}")
        missing = frame[ITEM].isna()
        if missing.any():
            warn(f"{where}: dropping {int(missing.sum())} rows without an item id")
            frame = frame[~missing]
    else:
        frame[ITEM_KEY] = "0"
    frame["__time__"] = parse_times(frame[TIME], where)
    if frame["__time__"].isna().any():
        warn(f"{where}: dropping {int(frame['__time__'].isna().sum())} rows without a time stamp")
        frame = frame[frame["__time__"].notna()]
    return frame


def step_seconds(offset):
    """Approximate length of one step, for choosing calendar features and the season."""
    grid = pd.date_range("2001-01-01", periods=3, freq=offset)
    return (grid[2] - grid[1]).total_seconds()


def infer_frequency(frame):
    """CONFIG's frequency, else pandas.infer_freq on the longest items (majority vote), else the
    most common gap between consecutive time stamps."""
    given = TS.get("frequency")
    if given:
        return to_offset(given)
    votes = {}
    sizes = frame.groupby(ITEM_KEY, sort=False).size().sort_values(ascending=False)
    for item in sizes.index[:200]:
        times = pd.DatetimeIndex(frame.loc[frame[ITEM_KEY] == item, "__time__"]).unique().sort_values()
        if len(times) >= 3:
            found = pd.infer_freq(times)
            if found:
                votes[found] = votes.get(found, 0) + 1
    if votes:
        return to_offset(max(votes, key=votes.get))
    gaps = frame.groupby(ITEM_KEY, sort=False)["__time__"].diff().dropna()
    gaps = gaps[gaps > pd.Timedelta(0)]
    if gaps.empty:
        raise ValueError("cannot infer the frequency: no item has two distinct time stamps; set timeseries.frequency")
    gap = gaps.mode().iloc[0]
    times = frame["__time__"]
    if pd.Timedelta(days=28) <= gap <= pd.Timedelta(days=31):
        offset = to_offset("MS" if (times.dt.day == 1).all() else "ME")
    elif pd.Timedelta(days=89) <= gap <= pd.Timedelta(days=92):
        offset = to_offset("QS" if (times.dt.day == 1).all() else "QE")
    elif gap.days == 7 and gap == pd.Timedelta(days=7):
        offset = to_offset("W-" + ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")[times.iloc[0].dayofweek])
    else:
        offset = to_offset(gap)
    warn(f"pandas could not infer a frequency (gaps or irregular stamps); using the most common step {offset.freqstr}")
    return offset


def season_length(offset):
    given = TS.get("season_length")
    if given:
        return max(1, int(given))
    name = type(offset).__name__
    calendar_seasons = {"BusinessDay": 5, "Week": 52, "MonthBegin": 12, "MonthEnd": 12, "BusinessMonthBegin": 12,
                        "BusinessMonthEnd": 12, "QuarterBegin": 4, "QuarterEnd": 4, "YearBegin": 1, "YearEnd": 1}
    if name in calendar_seasons:
        return max(1, round(calendar_seasons[name] / max(1, offset.n)))
    seconds = step_seconds(offset)
    if seconds >= 86400:
        per_week = 7 * 86400 / seconds
        return int(per_week) if per_week >= 2 and per_week == int(per_week) else 1
    per_day = 86400 / seconds
    if per_day <= 288 and per_day == int(per_day):
        return int(per_day)
    per_hour = 3600 / seconds
    return int(per_hour) if per_hour >= 2 and per_hour == int(per_hour) else 1


def calendar(times, seconds):
    """Calendar features of the target time stamps, as fine as the frequency allows."""
    t = pd.DatetimeIndex(times)
    columns = {}
    if seconds < 3600:
        columns["minute"] = t.minute
    if seconds < 86400:
        columns["hour"] = t.hour
    if seconds < 7 * 86400:
        columns["dayofweek"] = t.dayofweek
    if 86400 <= seconds < 7 * 86400:
        columns["day"] = t.day
        columns["dayofyear"] = t.dayofyear
    if 86400 <= seconds < 28 * 86400:
        columns["weekofyear"] = t.isocalendar().week.to_numpy()
    if seconds < 90 * 86400:
        columns["month"] = t.month
    if seconds < 365 * 86400:
        columns["quarter"] = t.quarter
    return pd.DataFrame({name: np.asarray(values, dtype="float64") for name, values in columns.items()})


class Series:
    """One item on its regular grid: observed values (NaN where missing), filled values for
    features, and known covariates over history and future."""

    def __init__(self, item, times, observed, covariates):
        self.item = item
        self.times = times
        self.observed = observed
        filled = pd.Series(observed).ffill().bfill().to_numpy()
        self.filled = np.nan_to_num(filled, nan=0.0)
        self.covariates = covariates
        self.n = len(observed)


def regularise(frame, offset, covariates):
    """Per item: aggregate duplicate stamps, check the stamps sit on the frequency grid, and
    reindex onto the full grid so that a lag of k rows is a lag of k steps."""
    series = {}
    off_grid_items = 0
    for item, group in frame.groupby(ITEM_KEY, sort=True):
        group = group.sort_values("__time__")
        if group["__time__"].duplicated().any():
            warn(f"item {item}: {int(group['__time__'].duplicated().sum())} duplicate time stamps; averaging them")
            numeric = [TARGET] + [c for c in covariates if pd.api.types.is_numeric_dtype(group[c])]
            first = [c for c in covariates if c not in numeric]
            group = group.groupby("__time__", as_index=False).agg({**{c: "mean" for c in numeric}, **{c: "first" for c in first}})
        grid = pd.date_range(group["__time__"].iloc[0], group["__time__"].iloc[-1], freq=offset)
        on_grid = group["__time__"].isin(grid)
        if on_grid.mean() < 0.9:
            raise ValueError(
                f"time stamps of item {item!r} do not fall on the {offset.freqstr} grid "
                f"(e.g. {group['__time__'].iloc[1] if len(group) > 1 else group['__time__'].iloc[0]}); "
                "set timeseries.frequency to the data's real step (e.g. 'W-MON', 'MS', 'ME')"
            )
        if not on_grid.all():
            off_grid_items += 1
            group = group[on_grid]
        indexed = group.set_index("__time__").reindex(grid)
        observed = pd.to_numeric(indexed[TARGET], errors="coerce").to_numpy(dtype="float64")
        series[item] = Series(item, grid, observed, indexed[covariates] if covariates else None)
    if off_grid_items:
        warn(f"{off_grid_items} items had a few time stamps off the {offset.freqstr} grid; they were dropped")
    return series


def lag_values(values, index):
    out = np.full(index.shape, np.nan)
    ok = (index >= 0) & (index < len(values))
    out[ok] = values[index[ok]]
    return out


def window_mean(cumulative, t, width):
    """Mean of values[t - width + 1 .. t] (clipped at the start) from cumulative = [0, cumsum(values)]."""
    low = np.maximum(t - width + 1, 0)
    count = t + 1 - low
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (cumulative[np.maximum(t + 1, 0)] - cumulative[low]) / np.maximum(count, 1), np.nan)


class Design:
    """Feature layout shared by training, validation and prediction rows."""

    def __init__(self, season, horizon, seconds, covariates, covariate_categories, items, static):
        self.season = season
        self.horizon = horizon
        self.seconds = seconds
        self.covariates = covariates
        self.covariate_categories = covariate_categories
        self.items = items
        self.static = static
        short = {0: 14, 1: 14}.get(REDUCE, 7)
        self.lags = sorted(set(range(1, max(min(season, short), 3) + 1)) | {season, 2 * season})
        self.windows = sorted({w for w in (3, season, 2 * season, 4 * season) if w >= 2})
        self.scale_window = max(season, 7)

    def origin_rows(self, s, history, origins, steps, with_target):
        """Feature rows for forecast origins `origins` (indexes into the item's grid) and steps
        1..steps, computed only from the first `history` values: nothing after an origin can leak in."""
        values = s.filled[:history]
        if len(origins) == 0:
            return None
        cumulative = np.concatenate([[0.0], np.cumsum(values)])
        squares = np.concatenate([[0.0], np.cumsum(values * values)])
        absolute = np.concatenate([[0.0], np.cumsum(np.abs(values))])
        t = np.asarray(origins)
        scale = window_mean(absolute, t, self.scale_window)
        scale = np.where(np.isfinite(scale) & (scale > 1e-8), scale, 1.0)
        # How much history the statistics rest on, capped so that it does not act as a time index.
        per_origin = {"level": np.log1p(scale), "history": np.minimum(t + 1, 4 * self.season).astype("float64")}
        for k in self.lags:
            per_origin[f"lag_{k}"] = lag_values(values, t + 1 - k) / scale
        for w in self.windows:
            per_origin[f"mean_{w}"] = window_mean(cumulative, t, w) / scale
        w = max(self.season, 3)
        mean = window_mean(cumulative, t, w)
        variance = np.maximum(window_mean(squares, t, w) - mean * mean, 0)
        per_origin[f"std_{w}"] = np.sqrt(variance) / scale
        previous = np.where(t - w >= 0, window_mean(cumulative, t - w, w), np.nan)
        per_origin["season_change"] = (mean - previous) / scale

        step = np.arange(1, steps + 1)
        origin_index = np.repeat(np.arange(len(t)), steps)
        h = np.tile(step, len(t))
        target = t[origin_index] + h
        if with_target:
            keep = target < history
            keep &= ~np.isnan(s.observed[np.minimum(target, s.n - 1)])
            origin_index, h, target = origin_index[keep], h[keep], target[keep]
        rows = {name: values_[origin_index] for name, values_ in per_origin.items()}
        rows["step"] = h.astype("float64")
        back = target - self.season * np.ceil(h / self.season).astype(int)
        rows["seasonal_naive"] = lag_values(values, back) / scale[origin_index]
        frame = pd.DataFrame(rows)
        frame["__item__"] = s.item
        frame["__target_index__"] = target
        frame["__scale__"] = scale[origin_index]
        frame["__time__"] = s.times[np.minimum(target, len(s.times) - 1)] if len(target) else pd.DatetimeIndex([])
        if with_target:
            frame["__y__"] = s.observed[target] / frame["__scale__"].to_numpy()
        for column in self.covariates:
            frame[column] = s.covariates[column].to_numpy()[np.minimum(target, len(s.covariates) - 1)] if len(target) else []
        return frame

    def finish(self, frame):
        """Adds calendar, item and static features; returns the model's feature frame."""
        features = frame.drop(columns=[c for c in frame.columns if c.startswith("__")]).reset_index(drop=True)
        cal = calendar(frame["__time__"], self.seconds)
        features = pd.concat([features, cal], axis=1)
        if len(self.items) > 1:
            features["item"] = pd.Categorical(frame["__item__"].to_numpy(), categories=self.items)
        if self.static is not None:
            joined = self.static.reindex(frame["__item__"].to_numpy()).reset_index(drop=True)
            features = pd.concat([features, joined], axis=1)
        for column in self.covariates:
            if not pd.api.types.is_numeric_dtype(features[column]):
                features[column] = pd.Categorical(features[column].astype("string"), categories=self.covariate_categories[column])
            elif pd.api.types.is_bool_dtype(features[column]):
                features[column] = features[column].astype("float64")
        return features


def read_static(items):
    path = TS.get("static_features_path")
    if not path:
        return None
    fmt = path.rsplit(".", 1)[-1].lower()
    static = read_series_table(path, "csv" if fmt not in ("tsv", "json", "jsonl", "parquet") else fmt)
    if ITEM not in static.columns:
        raise KeyError(f"item column {ITEM!r} not found in the static features file; columns: {list(static.columns)}")
    static = static.drop_duplicates(ITEM).set_index(ITEM)
    for column in static.columns:
        if pd.api.types.is_bool_dtype(static[column]):
            static[column] = static[column].astype("float64")
        elif not pd.api.types.is_numeric_dtype(static[column]):
            static[column] = pd.Categorical(static[column].astype("string"), categories=sorted(static[column].dropna().astype(str).unique()))
    static.columns = [f"static_{c}" for c in static.columns]
    missing = len(set(items) - set(static.index))
    if missing:
        warn(f"{missing} items have no row in the static features file; their static features are missing")
    return static


def seasonal_naive(values, steps, season):
    """The value one season before each future step (the last value when the series is shorter)."""
    n = len(values)
    if n == 0:
        return np.zeros(steps)
    if n < season:
        return np.repeat(values[-1], steps)
    return np.array([values[n - season + (h - 1) % season] for h in range(1, steps + 1)])


def forecast_error(metric, truths, forecasts, histories, season):
    """The error of forecasts against truths (lists per item); MASE and RMSSE scale each item
    by the in-sample error of the seasonal-naive forecast on its history."""
    kept = [(np.asarray(y, float), np.asarray(f, float), np.asarray(h, float)) for y, f, h in zip(truths, forecasts, histories)]
    kept = [(y[~np.isnan(y)], f[~np.isnan(y)], h) for y, f, h in kept]
    kept = [(y, f, h) for y, f, h in kept if len(y)]
    y = np.concatenate([k[0] for k in kept])
    f = np.concatenate([k[1] for k in kept])
    error = y - f
    if metric == "mae":
        return float(np.mean(np.abs(error)))
    if metric == "mse":
        return float(np.mean(error ** 2))
    if metric == "rmse":
        return float(np.sqrt(np.mean(error ** 2)))
    if metric == "smape":
        denominator = np.abs(y) + np.abs(f)
        return float(np.mean(np.where(denominator > 0, 2 * np.abs(error) / np.where(denominator > 0, denominator, 1), 0.0)))
    if metric == "mape":
        nonzero = y != 0
        if not nonzero.any():
            raise ValueError("mape is undefined: every true value is 0")
        return float(np.mean(np.abs(error[nonzero] / y[nonzero])))
    if metric == "wape":
        return float(np.sum(np.abs(error)) / max(np.sum(np.abs(y)), 1e-12))
    scaled = []
    for truth, forecast, history in kept:
        m = season if np.sum(~np.isnan(history)) > season else 1
        diffs = history[m:] - history[:-m]
        diffs = diffs[~np.isnan(diffs)]
        if metric == "mase":
            denominator = np.mean(np.abs(diffs)) if len(diffs) else 0.0
            numerator = np.mean(np.abs(truth - forecast))
        else:
            denominator = np.mean(diffs ** 2) if len(diffs) else 0.0
            numerator = np.mean((truth - forecast) ** 2)
        if denominator > 0:
            scaled.append(numerator / denominator if metric == "mase" else math.sqrt(numerator / denominator))
    if not scaled:
        raise ValueError(f"{metric} is undefined: every item's history is constant")
    return float(np.mean(scaled))


def predict(model, features, scale, rounds):
    """Forecasts in the target's units: the model predicts values divided by each item's level."""
    return model.predict(features, num_iteration=rounds) * scale


def future_rows(series, horizon, test, offset):
    """The (item, step) pairs to forecast with the output rows they fill: the test file's rows
    when there is one, else `horizon` steps after each item's last training time stamp."""
    if test is None:
        items = np.repeat(sorted(series), horizon)
        steps = np.tile(np.arange(1, horizon + 1), len(series))
        times = np.concatenate([pd.date_range(series[i].times[series[i].n - 1], periods=horizon + 1, freq=offset)[1:] for i in sorted(series)])
        out = pd.DataFrame({"__item__": items, "__step__": steps})
        if ITEM:
            out[ITEM] = items
        times = pd.DatetimeIndex(times)
        kind = INTEGER_TIMES["kind"]
        out[TIME] = times.year if kind == "years" else (times - STEP_ORIGIN).days if kind == "steps" else times
        return out
    out = test.reset_index(drop=True)
    steps = np.zeros(len(out), dtype=int)
    for item, index in out.groupby(ITEM_KEY, sort=False).groups.items():
        times = out.loc[index, "__time__"]
        if item in series:
            grid = pd.date_range(series[item].times[series[item].n - 1], periods=horizon + 1, freq=offset)[1:]
        else:
            grid = pd.date_range(times.min(), periods=horizon, freq=offset)
        where = pd.Index(grid).get_indexer(pd.DatetimeIndex(times))
        if (where < 0).any():
            bad = times[where < 0].iloc[0]
            raise ValueError(
                f"test time stamp {bad} of item {item!r} is not one of the {horizon} {offset.freqstr} steps after "
                "its last training time stamp (overlapping, off-grid or beyond the horizon)"
            )
        steps[np.asarray(index)] = where + 1
    out["__item__"] = out[ITEM_KEY].to_numpy()
    out["__step__"] = steps
    return out


def write_forecasts(rows, values):
    """Writes CONFIG's output columns: the id (from the test file), the item, the time stamp as
    the test file wrote it, and the forecast in the one remaining column."""
    columns = CONFIG["output_columns"]
    id_column = CONFIG["id_column"]
    out = pd.DataFrame(index=range(len(rows)))
    forecast_columns = []
    for column in columns:
        if column == ITEM or (column == id_column and column in rows.columns):
            out[column] = rows[column].to_numpy()
        elif column == TIME:
            out[column] = rows[column].to_numpy()
        else:
            forecast_columns.append(column)
    if len(forecast_columns) != 1:
        raise ValueError(f"expected one forecast column besides the item, time and id columns, got {forecast_columns}")
    out[forecast_columns[0]] = values
    if out.isna().any().any():
        raise ValueError("forecasts contain missing values")
    directory = os.path.dirname(CONFIG["output_path"])
    if directory:
        os.makedirs(directory, exist_ok=True)
    out[columns].to_csv(CONFIG["output_path"], index=False)
    say(f"wrote {len(out)} forecasts to {CONFIG['output_path']}")


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    if not TS or not TIME:
        raise ValueError("this template needs CONFIG['timeseries'] with timestamp_column and horizon")
    horizon = int(TS.get("horizon") or 0)
    if horizon < 1:
        raise ValueError(f"timeseries.horizon must be at least 1, got {TS.get('horizon')!r}")
    metric = forecast_metric()

    train = with_item_key(read_series_table(CONFIG["train_path"], CONFIG["train_format"]), "training")
    if TARGET not in train.columns:
        raise KeyError(f"target column {TARGET!r} not found in the training file; columns: {list(train.columns)}")
    test = None
    if CONFIG.get("test_path"):
        test = with_item_key(read_series_table(CONFIG["test_path"], CONFIG["test_format"]), "test")
        horizon = max(horizon, int(test.groupby(ITEM_KEY).size().max()))
    covariates = [c for c in TS.get("known_covariates") or [] if c not in CONFIG["ignore_columns"]]
    for column in list(covariates):
        if column not in train.columns or (test is None or column not in test.columns):
            warn(f"known covariate {column!r} is not in both the training and the test file; it is not used")
            covariates.remove(column)
    used = {ITEM_KEY, TIME, TARGET, "__time__", CONFIG["id_column"], *covariates, *CONFIG["ignore_columns"]}
    past_only = [c for c in train.columns if c not in used]
    if past_only:
        warn(f"columns {past_only} are not known for future steps and are not used")

    offset = infer_frequency(train)
    season = season_length(offset)
    seconds = step_seconds(offset)
    if test is not None and covariates:
        # Future covariate values come from the test rows: stack them after the history.
        history = train[[ITEM_KEY, "__time__", TARGET, *covariates]]
        future = test[[ITEM_KEY, "__time__", *covariates]].assign(**{TARGET: np.nan})
        future = future[~future.set_index([ITEM_KEY, "__time__"]).index.isin(history.set_index([ITEM_KEY, "__time__"]).index)]
        combined = pd.concat([history, future], ignore_index=True)
    else:
        combined = train[[ITEM_KEY, "__time__", TARGET, *covariates]]
    series = regularise(combined, offset, covariates)
    # Each item's history ends at its last training time stamp; later grid rows hold future covariates.
    last_train = train.groupby(ITEM_KEY)["__time__"].max()
    for item, s in list(series.items()):
        end = int(np.searchsorted(s.times, last_train[item], side="right")) if item in last_train.index else 0
        s.observed, s.filled, s.n = s.observed[:end], s.filled[:end], end
        if end == 0 or np.isnan(s.observed).all():
            del series[item]
    if not series:
        raise ValueError(f"no item has a numeric value in target column {TARGET!r}")
    # Extend every grid (and its covariates) past the horizon so that target indexes are valid.
    for s in series.values():
        extended = pd.date_range(s.times[0], periods=s.n + horizon, freq=offset)
        if s.covariates is not None:
            s.covariates = s.covariates.reindex(extended)
        s.times = extended
    non_negative = bool(np.nanmin(np.concatenate([s.observed for s in series.values()])) >= 0)
    lengths = np.array([s.n for s in series.values()])
    say(f"read {len(series)} series ({int(lengths.min())}-{int(lengths.max())} steps of {offset.freqstr}), "
        f"season {season}, forecasting {horizon} steps with the {metric} metric")

    items = sorted(series)
    categories = {c: sorted(combined[c].dropna().astype(str).unique()) for c in covariates if not pd.api.types.is_numeric_dtype(combined[c])}
    design = Design(season, horizon, seconds, covariates, categories, items, read_static(items) if ITEM else None)
    row_cap = {0: 600_000, 1: 200_000}.get(REDUCE, 60_000)

    def training_rows(history_of):
        """Origins of every item, the latest first when the rows would exceed the cap."""
        per_item = max(1, row_cap // max(1, len(series) * horizon))
        parts = []
        for item in items:
            history = history_of(series[item])
            if history < 3:
                continue
            first = min(max(design.lags) - 1, history // 2)
            origins = np.arange(max(first, 1), history - 1)[-per_item:]
            part = design.origin_rows(series[item], history, origins, horizon, with_target=True)
            if part is not None and len(part):
                parts.append(part)
        if not parts:
            raise ValueError(f"the series are too short to train on: the longest has {int(lengths.max())} steps")
        return pd.concat(parts, ignore_index=True)

    # Validation: the last `horizon` steps of every item long enough to lose them, for both models.
    valid_items = [item for item in items if series[item].n >= horizon + 3]
    if not valid_items:
        raise ValueError(f"no series is long enough to hold out {horizon} steps (the longest has {int(lengths.max())})")
    say(f"holding out the last {horizon} steps of {len(valid_items)} series for validation")
    cut = {item: series[item].n - horizon for item in items}
    fit_frame = training_rows(lambda s: cut[s.item] if s.n >= horizon + 3 else 0)
    valid_frame = pd.concat([
        design.origin_rows(series[item], cut[item], np.array([cut[item] - 1]), horizon, with_target=False) for item in valid_items
    ], ignore_index=True)
    truths = [series[item].observed[cut[item]:] for item in valid_items]
    histories = [series[item].observed[:cut[item]] for item in valid_items]
    naive = [seasonal_naive(series[item].filled[:cut[item]], horizon, season) for item in valid_items]
    naive_error = forecast_error(metric, truths, naive, histories, season)
    say(f"SeasonalNaive: validation {metric} = {naive_error:.4f}")

    y_fit = fit_frame["__y__"].to_numpy()
    valid_truth = np.concatenate(truths) / valid_frame["__scale__"].to_numpy()
    labelled = ~np.isnan(valid_truth)
    x_fit, x_valid = design.finish(fit_frame), design.finish(valid_frame)
    rounds = {0: 2000, 1: 600}.get(REDUCE, 200)
    params = dict(
        objective="l2" if metric in ("rmse", "mse", "rmsse") else "l1",
        n_estimators=rounds,
        learning_rate=0.05 if REDUCE == 0 else 0.1,
        num_leaves=31 if REDUCE < 2 else 15,
        min_child_samples=min(20, max(5, len(x_fit) // 100)),
        subsample=0.9,
        subsample_freq=1,
        colsample_bytree=0.9,
        random_state=SEED,
        # On small data, thread start-up costs more than it saves (and spins badly on a busy host).
        n_jobs=N_JOBS if len(x_fit) >= 50_000 else 1,
        verbose=-1,
    )
    fit_deadline = start + 0.6 * (deadline - start)

    def stop_at_deadline(env):
        if time.monotonic() > fit_deadline:
            warn(f"time budget reached after {env.iteration + 1} rounds")
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    say(f"training LightGBM on {len(x_fit)} (origin, step) rows with {x_fit.shape[1]} features")
    model = lgb.LGBMRegressor(**params)
    model.fit(
        x_fit, y_fit,
        eval_X=(x_valid[labelled],), eval_y=(valid_truth[labelled],),
        callbacks=[lgb.early_stopping(100, verbose=False), stop_at_deadline],
    )
    best = max(1, model.best_iteration_ or rounds)
    gbm = predict(model, x_valid, valid_frame["__scale__"].to_numpy(), best)
    if non_negative:
        gbm = np.maximum(gbm, 0)
    gbm_by_item = np.split(gbm, np.cumsum([len(t) for t in truths])[:-1])
    gbm_error = forecast_error(metric, truths, gbm_by_item, histories, season)
    say(f"LGBMRegressor: validation {metric} = {gbm_error:.4f} ({best} rounds)")

    use_gbm = gbm_error <= naive_error
    winner, value = ("LGBMRegressor", gbm_error) if use_gbm else ("SeasonalNaive", naive_error)
    say(f"{winner} is the better forecaster on the held-out steps")
    print("MLZERO_RESULT " + json.dumps({
        "metric": metric,
        "score": float(value),
        "validation_rows": int(sum(int(np.sum(~np.isnan(t))) for t in truths)),
        "model": winner,
    }), flush=True)

    rows = future_rows(series, horizon, test, offset)
    steps = rows["__step__"].to_numpy()
    forecasts = np.full(len(rows), np.nan)
    if use_gbm:
        # Refit on every item's whole history with the early-stopped round count when the budget allows.
        if time.monotonic() - start < 0.5 * (deadline - start):
            full = training_rows(lambda s: s.n)
            model = lgb.LGBMRegressor(**{**params, "n_estimators": best})
            model.fit(design.finish(full), full["__y__"].to_numpy())
            best = None
        origin = pd.concat([
            design.origin_rows(series[item], series[item].n, np.array([series[item].n - 1]), horizon, with_target=False) for item in items
        ], ignore_index=True)
        values = predict(model, design.finish(origin), origin["__scale__"].to_numpy(), best)
        by_item = dict(zip(items, np.split(values, len(items))))
    else:
        by_item = {item: seasonal_naive(series[item].filled, horizon, season) for item in items}
    cold = sorted(set(rows["__item__"]) - set(by_item))
    if cold:
        warn(f"{len(cold)} items of the test file have no history ({cold[:5]}); forecasting the median level of the others")
        level = float(np.median([np.mean(series[item].filled[-season:]) for item in items]))
    for position, (item, step) in enumerate(zip(rows["__item__"], steps)):
        forecasts[position] = by_item[item][step - 1] if item in by_item else level
    if non_negative:
        forecasts = np.maximum(forecasts, 0)
    write_forecasts(rows, forecasts)


if __name__ == "__main__":
    main()
