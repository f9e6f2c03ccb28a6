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


import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

IMAGES = CONFIG.get("images") or {}
EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
SIZE = {0: 32, 1: 24}.get(REDUCE, 16)
# Images per class at most: fewer after an out-of-memory failure or a timeout.
PER_CLASS = {0: 5000, 1: 2000}.get(REDUCE, 500)
ORIENTATION_BINS = 9
# Huge scans are shrunk while decoding (draft), so the decompression-bomb guard only needs to stop absurd files.
Image.MAX_IMAGE_PIXELS = 400_000_000


def is_image(name):
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in EXTENSIONS


def files_under(folder):
    """Image files below `folder`, as sorted paths relative to it."""
    found = []
    for directory, subfolders, names in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [os.path.relpath(os.path.join(directory, name), folder) for name in names if is_image(name)]
    return sorted(path.replace(os.sep, "/") for path in found)


def resolve(path):
    """A path from a table, relative to the images root unless it is absolute."""
    path = str(path)
    return path if os.path.isabs(path) else os.path.join(IMAGES["root"], path)


def training_images():
    """(paths, labels) of the labelled images."""
    root = IMAGES.get("root")
    if not root or not os.path.isdir(root):
        raise FileNotFoundError(f"images.root {root!r} is not a folder")
    if IMAGES.get("layout") == "folders":
        paths, labels = [], []
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
        for label in classes:
            for relative in files_under(os.path.join(root, label)):
                paths.append(os.path.join(root, label, relative))
                labels.append(label)
        stray = [name for name in os.listdir(root) if is_image(name)]
        if stray:
            warn(f"{len(stray)} images sit directly in {root}, outside any class folder; they are not used")
        return paths, pd.Series(labels, dtype=object)
    table = read_table(CONFIG["train_path"], CONFIG["train_format"])
    column, label = IMAGES.get("path_column"), CONFIG["label_column"]
    for name in (column, label):
        if name not in table.columns:
            raise KeyError(f"column {name!r} not found in the training table; columns: {list(table.columns)}")
    table = table[table[label].notna() & table[column].notna()]
    target = table[label]
    if pd.api.types.is_float_dtype(target) and (target % 1 == 0).all():
        target = target.astype("int64")
    return [resolve(p) for p in table[column]], target.reset_index(drop=True)


def test_images():
    """(paths, table with the id column or None) of the images to predict."""
    test_root = IMAGES.get("test_root")
    id_column = CONFIG["id_column"]
    if test_root:
        relative = files_under(test_root)
        if not relative:
            raise FileNotFoundError(f"no image files under images.test_root {test_root!r}")
        table = pd.DataFrame({id_column: relative}) if id_column else pd.DataFrame(index=range(len(relative)))
        return [os.path.join(test_root, p) for p in relative], table
    table = read_table(CONFIG["test_path"], CONFIG["test_format"])
    column = IMAGES.get("path_column")
    if column not in table.columns:
        raise KeyError(f"image path column {column!r} not found in the test table; columns: {list(table.columns)}")
    return [resolve(p) for p in table[column]], table


def cap_per_class(paths, labels):
    """At most PER_CLASS images of each class, a seeded sample."""
    if labels.value_counts().max() <= PER_CLASS:
        return paths, labels
    rng = np.random.default_rng(SEED)
    keep = []
    for index in labels.groupby(labels).groups.values():
        keep += rng.choice(np.asarray(index), size=min(len(index), PER_CLASS), replace=False).tolist()
    keep = sorted(keep)
    warn(f"reduce_level {REDUCE}: using at most {PER_CLASS} images per class ({len(keep)} of {len(labels)})")
    return [paths[i] for i in keep], labels.iloc[keep].reset_index(drop=True)


def common_mode(paths):
    """"L" when every sampled image is grayscale, else "RGB"."""
    rng = np.random.default_rng(SEED)
    sample = rng.choice(len(paths), size=min(200, len(paths)), replace=False)
    for index in sample:
        try:
            with Image.open(paths[index]) as image:
                if image.mode not in GRAY_MODES:
                    return "RGB"
        except (OSError, UnidentifiedImageError):
            continue
    return "L"


def load(path, mode):
    """One image as a float array SIZE x SIZE x channels in [0, 1]."""
    with Image.open(path) as image:
        image.draft(mode, (SIZE * 2, SIZE * 2))  # JPEG decodes at a fraction of its size
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
            # 16-bit and float images: stretch to 0..255 instead of clipping.
            values = np.asarray(image, dtype="float64")
            low, high = np.nanmin(values), np.nanmax(values)
            image = Image.fromarray(((values - low) / max(high - low, 1e-12) * 255).astype("uint8"), "L")
        if image.mode == "P" or image.mode == "PA":
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            image = image.convert("RGBA")
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image)
        image = image.convert(mode).resize((SIZE, SIZE), Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels = np.asarray(image, dtype="float32") / 255.0
    return pixels.reshape(SIZE, SIZE, -1)


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
    pixel_rows, stat_rows, readable = [], [], np.ones(len(paths), dtype=bool)
    failures = []
    for index, path in enumerate(paths):
        try:
            pixels = load(path, mode)
            pixel_rows.append(pixels.ravel())
            stat_rows.append(describe(pixels))
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
            readable[index] = False
            failures.append(f"{path}: {type(error).__name__}: {error}")
            pixel_rows.append(None)
            stat_rows.append(None)
        if index % 2000 == 1999:
            say(f"loaded {index + 1} of {len(paths)} {what} images")
            if time.monotonic() > deadline:
                raise TimeoutError(f"loading {what} images takes longer than the time budget; retry with a higher reduce_level")
    if failures:
        warn(f"{len(failures)} unreadable {what} images, e.g. {failures[0]}")
    if not readable.any():
        raise ValueError(f"none of the {len(paths)} {what} images could be read")
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
    if IMAGES.get("layout") not in ("folders", "csv"):
        raise ValueError(f"this template needs CONFIG['images'] with layout 'folders' or 'csv', got {IMAGES!r}")
    paths, labels = training_images()
    if not paths:
        raise FileNotFoundError(f"no labelled images found under {IMAGES['root']!r}")
    paths, labels = cap_per_class(paths, labels)
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
