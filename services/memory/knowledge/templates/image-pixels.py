"""mlzero program template: CPU image classification on pixels, without deep learning.

Lists the images (one subfolder per class, or a table with a path and a label
column), loads each with Pillow in one mode (RGB, or L when every image is
grayscale; transparency composited onto white), shrinks it to a small square
and describes it by its pixels, colour histograms and edge-orientation
histograms. PCA + logistic regression and HistGradientBoosting are scored on
a seeded, stratified holdout; the better one is refitted on every image,
prints one MLZERO_RESULT line and predicts the test images. A baseline for
when no CNN is available: weak when objects move around the frame.
"""
# mlzero:include common.py


# mlzero:include image_io.py


import warnings

from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

SIZE = {0: 32, 1: 24}.get(REDUCE, 16)
# Images per class at most: fewer after an out-of-memory failure or a timeout.
PER_CLASS = {0: 5000, 1: 2000}.get(REDUCE, 500)
ORIENTATION_BINS = 9


def describe(pixels):
    """Colour statistics and edge-orientation histograms (whole image and 2x2 cells)."""
    channels = pixels.shape[2]
    parts = [pixels.mean(axis=(0, 1)), pixels.std(axis=(0, 1))]
    for channel in range(channels):
        histogram, _ = np.histogram(pixels[:, :, channel], bins=8, range=(0.0, 1.0))
        parts.append(histogram / pixels[:, :, 0].size)
    gray = pixels.mean(axis=2)
    gy, gx = np.gradient(gray)
    magnitude = np.hypot(gx, gy)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    bins = np.minimum((angle / np.pi * ORIENTATION_BINS).astype(int), ORIENTATION_BINS - 1)
    half = SIZE // 2
    cells = [(slice(None), slice(None))] + [(slice(r, r + half), slice(c, c + half)) for r in (0, half) for c in (0, half)]
    for rows, cols in cells:
        weights = np.bincount(bins[rows, cols].ravel(), weights=magnitude[rows, cols].ravel(), minlength=ORIENTATION_BINS)
        parts.append(weights / (weights.sum() + 1e-6))
    parts.append([magnitude.mean(), (magnitude > 0.1).mean()])
    return np.concatenate([np.ravel(part) for part in parts]).astype("float32")


def featurise(paths, mode, deadline, what):
    """(pixels, statistics, readable mask); an unreadable image gives a row of NaN."""
    images, readable = load_images(paths, mode, SIZE, deadline, what)
    pixel_rows = [None if pixels is None else pixels.ravel() for pixels in images]
    stat_rows = [None if pixels is None else describe(pixels) for pixels in images]
    width = next(len(row) for row in pixel_rows if row is not None)
    stat_width = next(len(row) for row in stat_rows if row is not None)
    pixels = np.vstack([row if row is not None else np.full(width, np.nan, "float32") for row in pixel_rows])
    stats = np.vstack([row if row is not None else np.full(stat_width, np.nan, "float32") for row in stat_rows])
    return pixels, stats, readable


def build_model(kind, n_pixels, n_stats, rows):
    """PCA of the pixels beside the scaled statistics, then a linear or a boosted classifier."""
    components = max(2, min(64, rows // 4, n_pixels))
    columns = ColumnTransformer([
        ("pixels", make_pipeline(StandardScaler(), PCA(n_components=components, random_state=SEED)), list(range(n_pixels))),
        ("stats", StandardScaler(), list(range(n_pixels, n_pixels + n_stats))),
    ])
    if kind == "logistic":
        return make_pipeline(columns, LogisticRegression(C=0.5, max_iter=2000, random_state=SEED))
    return make_pipeline(columns, HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.08, early_stopping=rows >= 1000, random_state=SEED,
    ))


def predict(model, features):
    probabilities = model.predict_proba(features)
    return probabilities.argmax(axis=1), probabilities


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
    paths, labels = labelled_images(PER_CLASS)
    # Below some 20k images one thread is faster than several: the work per call is small, and
    # OpenMP and BLAS threads that wait for a busy core spin instead of working.
    threadpool_limits(limits=N_JOBS if len(paths) >= 20_000 else 1)
    mode = common_mode(paths)
    say(f"found {len(paths)} labelled images in {labels.nunique()} classes; loading them as {mode} {SIZE}x{SIZE}")
    load_deadline = start + 0.5 * (deadline - start)
    pixels, stats, readable = featurise(paths, mode, load_deadline, "training")
    pixels, stats, labels = pixels[readable], stats[readable], labels[readable].reset_index(drop=True)
    features = pd.DataFrame(np.hstack([pixels, stats]))
    n_pixels, n_stats = pixels.shape[1], stats.shape[1]
    metric = metric_name()
    classes, encoded, n_classes = encode_target(labels)

    x_train, x_valid, y_train, y_valid = holdout(features, encoded)
    higher_is_better = metric != "log_loss"
    best = None
    for kind in ("logistic", "boosting"):
        if best is not None and time.monotonic() > start + 0.6 * (deadline - start):
            warn(f"time budget: skipping the {kind} model")
            break
        model = build_model(kind, n_pixels, n_stats, len(x_train))
        model.fit(x_train, y_train)
        predicted, probabilities = predict(model, x_valid)
        value = score(metric, y_valid, predicted, probabilities, n_classes)
        say(f"candidate {type(model[-1]).__name__}: validation {metric} = {value:.4f}")
        if best is None or (value > best[0] if higher_is_better else value < best[0]):
            best = (value, kind, predicted, probabilities, model)
    _, kind, predicted, probabilities, model = best
    report(metric, y_valid, predicted, probabilities, n_classes, type(model[-1]).__name__)

    test_paths, test = test_images()
    say(f"predicting {len(test_paths)} test images")
    test_pixels, test_stats, test_readable = featurise(test_paths, mode, deadline, "test")
    test_features = np.hstack([test_pixels, test_stats])
    if not test_readable.all():
        # An unreadable test image still needs a prediction: give it the average training image.
        test_features[~test_readable] = features.to_numpy().mean(axis=0)
    # Refit on every image when the budget allows.
    if time.monotonic() - start < 0.5 * (deadline - start):
        model = build_model(kind, n_pixels, n_stats, len(features))
        model.fit(features, encoded)
    predicted, probabilities = predict(model, pd.DataFrame(test_features))
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
