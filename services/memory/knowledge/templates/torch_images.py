# Shared by the PyTorch image templates (image-cnn, image-timm), after common.py, image_io.py and
# torch_train.py: the labelled images as one normalised tensor split by a seeded holdout, and the
# predictions, each image averaged with its mirror, of the validation and the test images.
import warnings
from types import SimpleNamespace

from torch.nn import functional as F


def to_tensor(images):
    """N x channels x size x size float tensor; an unreadable image (None) becomes zeros."""
    blank = np.zeros_like(next(image for image in images if image is not None))
    stack = np.stack([blank if image is None else image for image in images])
    return torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2)))


def load_labelled_images(start, deadline, per_class, size):
    """Lists the labelled images (at most `per_class` a class) and the test images, loads the
    labelled ones at size x size in 40% of the budget at most, drops the unreadable ones and
    splits a seeded, stratified holdout; each channel is normalised by the training split's mean
    and spread. A namespace: images (all labelled images, normalised), train_index, valid_index,
    y_train, y_valid, metric, classes, n_classes, mean, std, mode, size, test_paths, test and
    reserve (seconds to keep for loading the test images, and a margin)."""
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
    paths, labels = labelled_images(per_class)
    test_paths, test = test_images()
    mode = common_mode(paths)
    say(f"found {len(paths)} labelled images in {labels.nunique()} classes; loading them as {mode} {size}x{size}; training on {device_name()}")

    load_started = time.monotonic()
    images, readable = load_images(paths, mode, size, start + 0.4 * (deadline - start), "training")
    per_image = (time.monotonic() - load_started) / len(paths)
    keep = np.flatnonzero(readable)
    images = to_tensor([images[i] for i in keep])
    labels = labels.iloc[keep].reset_index(drop=True)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(labels)

    rows = pd.DataFrame({"row": np.arange(len(encoded))})
    train_rows, valid_rows, y_train, y_valid = holdout(rows, encoded)
    train_index, valid_index = train_rows["row"].to_numpy(), valid_rows["row"].to_numpy()
    mean = images[train_index].mean(dim=(0, 2, 3), keepdim=True)
    std = images[train_index].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
    return SimpleNamespace(
        images=(images - mean) / std, train_index=train_index, valid_index=valid_index, y_train=y_train, y_valid=y_valid,
        metric=metric, classes=classes, n_classes=n_classes, mean=mean, std=std, mode=mode, size=size,
        test_paths=test_paths, test=test, reserve=per_image * len(test_paths) * 1.5 + 0.05 * (deadline - start) + 2,
    )


def predict(model, images, bf16=False):
    """(class indexes, probabilities as float64 rows summing to 1), each image averaged with its
    mirror. bf16: bfloat16 autocast on CUDA and channels_last batches, as the model trained."""
    model.eval()
    parts = []
    with torch.no_grad(), autocast(bf16):
        for begin in range(0, len(images), 512):
            batch = images[begin:begin + 512].to(DEVICE).float()
            if bf16:
                batch = batch.contiguous(memory_format=torch.channels_last)
            logits = model(batch).float(), model(batch.flip(3)).float()
            probabilities = (F.softmax(logits[0], dim=1) + F.softmax(logits[1], dim=1)) / 2
            parts.append(probabilities.double().cpu().numpy())
    probabilities = np.concatenate(parts)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities.argmax(axis=1), probabilities


def report_validation(model, data, name, bf16=False):
    """The trained model's MLZERO_RESULT line, on the holdout images."""
    predicted, probabilities = predict(model, data.images[data.valid_index], bf16)
    report(data.metric, data.y_valid.to_numpy(), predicted, probabilities, data.n_classes, name)


def predict_test_images(model, data, deadline, bf16=False):
    """Loads the test images, normalised as the training images, and writes their predictions."""
    say(f"predicting {len(data.test_paths)} test images")
    loaded, readable = load_images(data.test_paths, data.mode, data.size, deadline, "test")
    images = (to_tensor(loaded) - data.mean) / data.std
    if not readable.all():
        # An unreadable test image still needs a prediction: the average training image.
        images[~torch.from_numpy(readable)] = 0.0
    predicted, probabilities = predict(model, images, bf16)
    write_predictions(data.test, data.classes, predicted, probabilities)
