"""Image tasks: scikit-learn's 8x8 digits as small PNGs listed in tables, and generated
shapes in one folder per class."""
import os

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.svm import SVC

from models import class_priors
from tabular_tasks import split
from task_writer import TaskWriter


def one_hot(labels, classes):
    labels = np.asarray(labels).astype(str)
    return pd.DataFrame({name: (labels == name).astype(float) for name in classes})


def digits(root):
    """Multiclass on accuracy: 8x8 digits scaled to 32x32 grey PNGs, paths in train.csv and test.csv."""
    data = load_digits()
    rows = len(data.target)
    order = np.random.RandomState(301).permutation(rows)
    frame = pd.DataFrame({"image_id": order + 1, "file": [f"images/img_{i + 1:04d}.png" for i in order],
                          "digit": data.target.astype(str)})
    w = TaskWriter(root, "digits-png", modality="image", problem_type="multiclass", metric="accuracy",
                   label="digit", keys=["image_id"], classes=[str(d) for d in range(10)], source="sklearn load_digits",
                   form="PNG files under images/, train.csv and test.csv listing their paths, description.md")
    os.makedirs(w.path("images"))
    for index in range(rows):
        pixels = np.round(data.images[index] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels, "L").resize((32, 32), Image.NEAREST).save(w.path(frame.loc[index, "file"]))
    w.add_file("extra", "images/")
    train, test = split(frame, 0.25, 301, "digit")
    w.table("train", "train.csv", train)
    w.table("test", "test.csv", test[["image_id", "file"]])
    w.text("description", "description.md",
           "# Handwritten digits\n\nEach image in images/ shows one handwritten digit (0-9). train.csv gives the digit of the "
           "training images; predict the `digit` of each image listed in test.csv.\n\nSubmissions are evaluated on accuracy.\n")

    def features(files):
        # The PNG read back, averaged back down to its 8x8 grid.
        return np.stack([np.asarray(Image.open(w.path(f)), dtype=float).reshape(8, 4, 8, 4).mean(axis=(1, 3)).ravel() / 255 for f in files])

    model = SVC(C=10, gamma="scale").fit(features(train["file"]), train["digit"])
    reference = one_hot(model.predict(features(test["file"])), w.spec["classes"])
    trivial = class_priors(train["digit"], w.spec["classes"], len(test))
    return w.finish(test, trivial, "majority class", reference, "RBF SVM on the 8x8 pixels")


SHAPES = ["circle", "square", "triangle"]
SIZE = 40


def draw_shape(rng, shape):
    """A shape of random colour, size, position and rotation on a noisy background of another colour."""
    background = rng.randint(150, 256, 3)
    colour = (background + rng.randint(80, 150, 3) * rng.choice([-1, 1], 3)) % 256
    image = Image.new("RGB", (SIZE, SIZE), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(7, 14)
    cx, cy = rng.uniform(radius + 2, SIZE - radius - 2, 2)
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=tuple(int(v) for v in colour))
    else:
        corners = 4 if shape == "square" else 3
        start = rng.uniform(0, 2 * np.pi)
        points = [(cx + radius * np.cos(start + 2 * np.pi * k / corners), cy + radius * np.sin(start + 2 * np.pi * k / corners)) for k in range(corners)]
        draw.polygon(points, fill=tuple(int(v) for v in colour))
    pixels = np.asarray(image, dtype=float) + rng.normal(0, 10, (SIZE, SIZE, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def shape_features(path):
    """Rotation- and position-invariant features of the foreground (pixels far from the border colour):
    log Hu moments, fill ratios and a coarse mask."""
    pixels = np.asarray(Image.open(path), dtype=float)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    mask = (np.linalg.norm(pixels - np.median(border, axis=0), axis=2) > 60).astype(float)
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return np.zeros(7 + 3 + 100)
    area = len(xs)
    x, y = xs - xs.mean(), ys - ys.mean()

    def eta(p, q):
        return (x ** p * y ** q).sum() / area ** (1 + (p + q) / 2)

    n20, n02, n11, n30, n03, n21, n12 = eta(2, 0), eta(0, 2), eta(1, 1), eta(3, 0), eta(0, 3), eta(2, 1), eta(1, 2)
    hu = [n20 + n02, (n20 - n02) ** 2 + 4 * n11 ** 2, (n30 - 3 * n12) ** 2 + (3 * n21 - n03) ** 2, (n30 + n12) ** 2 + (n21 + n03) ** 2,
          (n30 - 3 * n12) * (n30 + n12) * ((n30 + n12) ** 2 - 3 * (n21 + n03) ** 2) + (3 * n21 - n03) * (n21 + n03) * (3 * (n30 + n12) ** 2 - (n21 + n03) ** 2),
          (n20 - n02) * ((n30 + n12) ** 2 - (n21 + n03) ** 2) + 4 * n11 * (n30 + n12) * (n21 + n03),
          (3 * n21 - n03) * (n30 + n12) * ((n30 + n12) ** 2 - 3 * (n21 + n03) ** 2) - (n30 - 3 * n12) * (n21 + n03) * (3 * (n30 + n12) ** 2 - (n21 + n03) ** 2)]
    hu = [np.sign(h) * np.log10(abs(h) + 1e-12) for h in hu]
    box = (xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1)
    radius = np.sqrt(x ** 2 + y ** 2)
    crop = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    coarse = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((10, 10), Image.BILINEAR), dtype=float).ravel() / 255
    return np.concatenate([hu, [area / box, radius.max() ** 2 * np.pi / area, radius.std() / radius.mean()], coarse])


def shapes(root):
    """Multiclass on accuracy: one folder per class for training, a flat test folder, a sample submission naming the files."""
    rng = np.random.RandomState(302)
    per_class = 400
    labels = np.repeat(SHAPES, per_class)
    names = [f"img_{i:05d}.png" for i in rng.permutation(len(labels))]
    frame = pd.DataFrame({"filename": names, "shape": labels})
    train, test = split(frame, 0.25, 302, "shape")
    w = TaskWriter(root, "shapes", modality="image", problem_type="multiclass", metric="accuracy",
                   label="shape", keys=["filename"], classes=SHAPES, source="generated (random colour, size, position, rotation, noise)",
                   form="PNG, train/<class>/ folders, flat test/ folder, sample submission, no description")
    paths = {}
    for part, rows in (("train", train), ("test", test)):
        for name, shape in zip(rows["filename"], rows["shape"]):
            relative = f"train/{shape}/{name}" if part == "train" else f"test/{name}"
            os.makedirs(os.path.dirname(w.path(relative)), exist_ok=True)
            draw_shape(rng, shape).save(w.path(relative))
            paths[name] = w.path(relative)
    w.add_file("train", "train/")
    w.add_file("test", "test/")
    w.table("sample_submission", "sample_submission.csv", test[["filename"]].assign(shape="circle"))
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=302)
    model.fit(np.stack([shape_features(paths[n]) for n in train["filename"]]), train["shape"])
    reference = one_hot(model.predict(np.stack([shape_features(paths[n]) for n in test["filename"]])), SHAPES)
    trivial = class_priors(train["shape"], SHAPES, len(test))
    return w.finish(test, trivial, "majority class", reference, "HistGradientBoosting on Hu moments, fill ratios and a coarse foreground mask")


TASKS = [digits, shapes]
