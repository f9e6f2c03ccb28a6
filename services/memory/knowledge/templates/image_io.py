# Shared by the image templates (image-pixels, image-cnn, image-timm), after common.py: listing the images
# and labels of CONFIG's images block (class folders or a table of paths), capping the images per
# class, choosing one colour mode, and loading each file with Pillow to a fixed square size.
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGES = CONFIG.get("images") or {}
EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
# Huge scans are shrunk while decoding (draft), so the decompression-bomb guard only needs to stop absurd files.
Image.MAX_IMAGE_PIXELS = 400_000_000
# The errors an unreadable or truncated file raises while it is opened or decoded.
IMAGE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)


def check_images_block():
    if IMAGES.get("layout") not in ("folders", "csv"):
        raise ValueError(f"this template needs CONFIG['images'] with layout 'folders' or 'csv', got {IMAGES!r}")


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


def cap_per_class(paths, labels, per_class):
    """At most `per_class` images of each class, a seeded sample."""
    if labels.value_counts().max() <= per_class:
        return paths, labels
    rng = np.random.default_rng(SEED)
    keep = []
    for index in labels.groupby(labels).groups.values():
        keep += rng.choice(np.asarray(index), size=min(len(index), per_class), replace=False).tolist()
    keep = sorted(keep)
    warn(f"reduce_level {REDUCE}: using at most {per_class} images per class ({len(keep)} of {len(labels)})")
    return [paths[i] for i in keep], labels.iloc[keep].reset_index(drop=True)


def labelled_images(per_class):
    """The training images and their labels, at most `per_class` of each class; an error when there are none."""
    check_images_block()
    paths, labels = training_images()
    if not paths:
        raise FileNotFoundError(f"no labelled images found under {IMAGES['root']!r}")
    return cap_per_class(paths, labels, per_class)


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


def load(path, mode, size):
    """One image as a float array size x size x channels in [0, 1]."""
    with Image.open(path) as image:
        image.draft(mode, (size * 2, size * 2))  # JPEG decodes at a fraction of its size
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
        image = image.convert(mode).resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels = np.asarray(image, dtype="float32") / 255.0
    return pixels.reshape(size, size, -1)


def load_images(paths, mode, size, deadline, what):
    """(list of size x size x channels arrays, None for an unreadable file; readable mask).
    Raises TimeoutError when loading passes `deadline`, and ValueError when nothing loads."""
    images, readable, failures = [], np.ones(len(paths), dtype=bool), []
    for index, path in enumerate(paths):
        try:
            images.append(load(path, mode, size))
        except IMAGE_ERRORS as error:
            readable[index] = False
            failures.append(f"{path}: {type(error).__name__}: {error}")
            images.append(None)
        if index % 2000 == 1999:
            say(f"loaded {index + 1} of {len(paths)} {what} images")
            if time.monotonic() > deadline:
                raise TimeoutError(f"loading {what} images takes longer than the time budget; retry with a higher reduce_level")
    if failures:
        warn(f"{len(failures)} unreadable {what} images, e.g. {failures[0]}")
    if not readable.any():
        raise ValueError(f"none of the {len(paths)} {what} images could be read")
    return images, readable
