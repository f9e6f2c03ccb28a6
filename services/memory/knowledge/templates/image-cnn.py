"""mlzero program template: a small CNN trained from scratch with PyTorch.

Lists the images (one subfolder per class, or a table with a path and a label
column) and loads each with Pillow at 32x32 in one mode (RGB, or L when every
image is grayscale). Three conv-batchnorm-ReLU-maxpool blocks, global average
pooling and a small dense head learn with Adam and a cosine learning rate on
a seeded, stratified holdout, with random shifts (padding + crop) and
horizontal flips, so objects anywhere in the frame are recognised. Training
stops early when the next epoch would not fit the time budget. The validation
score is printed as one MLZERO_RESULT line, and the trained model (no refit)
predicts the test images, averaging each image with its mirror.

GPU variant: on CUDA (torch.cuda.is_available()) the network is twice as wide
(64-128-256 channels), batches are larger and up to twice the epochs run; on
CPU it uses MLZERO_CPUS threads and 32-64-128 channels. reduce_level >= 1
halves the width and the epochs and caps the images per class.
"""
# mlzero:include common.py


# mlzero:include image_io.py


import math
import warnings

import torch
from torch import nn
from torch.nn import functional as F

SIZE = 32
CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
# Channels of the first conv block; the second and third have 2x and 4x.
WIDTH = (64 if CUDA else 32) // (2 if REDUCE >= 1 else 1)
MAX_EPOCHS = (80 if CUDA else 40) // {0: 1, 1: 2}.get(REDUCE, 4)
BATCH = 128 if CUDA else 64
# Small data sets need more passes: train at least this many optimizer steps when time allows.
MIN_STEPS = {0: 1200 if CUDA else 600, 1: 400}.get(REDUCE, 200)
# Images per class at most: fewer after an out-of-memory failure or a timeout.
PER_CLASS = {0: 20_000 if CUDA else 5000, 1: 2000}.get(REDUCE, 500)
PAD = 4


class SmallCNN(nn.Module):
    def __init__(self, channels, n_classes, width):
        super().__init__()
        blocks, previous = [], channels
        for out in (width, width * 2, width * 4):
            blocks += [nn.Conv2d(previous, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(previous, 128), nn.ReLU(inplace=True), nn.Linear(128, n_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))


def to_tensor(images):
    """N x channels x SIZE x SIZE float tensor; an unreadable image (None) becomes zeros."""
    blank = np.zeros_like(next(image for image in images if image is not None))
    stack = np.stack([blank if image is None else image for image in images])
    return torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2)))


def augment(batch, generator):
    """Random shifts of up to PAD pixels (replicate padding, then a random crop) and horizontal flips."""
    n = batch.shape[0]
    padded = F.pad(batch, (PAD, PAD, PAD, PAD), mode="replicate")
    offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator)
    shifted = torch.stack([padded[i, :, y:y + SIZE, x:x + SIZE] for i, (y, x) in enumerate(offsets.tolist())])
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip.view(n, 1, 1, 1).to(batch.device), shifted.flip(3), shifted)


def predict(model, images):
    """(class indexes, probabilities as float64 rows summing to 1), each image averaged with its mirror."""
    model.eval()
    parts = []
    with torch.no_grad():
        for begin in range(0, len(images), 512):
            batch = images[begin:begin + 512].to(DEVICE)
            probabilities = (F.softmax(model(batch), dim=1) + F.softmax(model(batch.flip(3)), dim=1)) / 2
            parts.append(probabilities.double().cpu().numpy())
    probabilities = np.concatenate(parts)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities.argmax(axis=1), probabilities


def train(model, images, target, deadline, generator):
    """Adam with a cosine schedule; the epoch count is fixed after the first epoch from its time."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=5e-4)
    labels = torch.as_tensor(np.asarray(target), dtype=torch.long)
    n = len(labels)
    # Smaller batches for small data: more steps per epoch at the same cost.
    batch_size = int(min(BATCH, max(16, 2 ** round(math.log2(max(n, 1) / 8)))))
    steps_per_epoch = max(1, n // batch_size)
    most = max(MAX_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
    say(f"training on {n} images, batches of {batch_size}, up to {most} epochs")
    epochs, schedule, started = most, None, time.monotonic()
    epoch = 0
    while epoch < epochs:
        epoch_start = time.monotonic()
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for begin in range(0, n, batch_size):
            index = order[begin:begin + batch_size]
            if len(index) < 2:
                continue  # batch norm needs two images
            batch = augment(images[index], generator).to(DEVICE, non_blocking=True)
            loss = F.cross_entropy(model(batch), labels[index].to(DEVICE, non_blocking=True))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        epoch += 1
        seconds = time.monotonic() - epoch_start
        if schedule is None:
            # Plan the epochs that fit the budget, with one epoch's time to spare.
            fit = int((deadline - time.monotonic()) / max(seconds, 1e-3)) - 1
            epochs = max(1, min(most, epoch + fit))
            if epochs < most:
                warn(f"time budget: training {epochs} of {most} epochs ({seconds:.1f} s each)")
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs - epoch), eta_min=2e-5)
        else:
            schedule.step()
        if epoch == 1 or epoch % max(5, epochs // 10) == 0 or epoch == epochs:
            say(f"epoch {epoch}/{epochs}: training loss {total / n:.4f} ({seconds:.1f} s)")
        if epoch < epochs and time.monotonic() + 1.5 * seconds > deadline:
            warn(f"time budget: stopping after epoch {epoch} of {epochs}")
            break
    say(f"trained {epoch} epochs in {time.monotonic() - started:.1f} s")


def main():
    start, deadline = start_clock()
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    if CUDA:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.set_num_threads(N_JOBS)
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
    paths, labels = labelled_images(PER_CLASS)
    test_paths, test = test_images()
    mode = common_mode(paths)
    device = torch.cuda.get_device_name(0) if CUDA else f"CPU, {N_JOBS} threads"
    say(f"found {len(paths)} labelled images in {labels.nunique()} classes; loading them as {mode} {SIZE}x{SIZE}; training on {device}")

    load_started = time.monotonic()
    images, readable = load_images(paths, mode, SIZE, start + 0.4 * (deadline - start), "training")
    per_image = (time.monotonic() - load_started) / len(paths)
    keep = np.flatnonzero(readable)
    images = to_tensor([images[i] for i in keep])
    labels = labels.iloc[keep].reset_index(drop=True)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(labels)

    rows = pd.DataFrame({"row": np.arange(len(encoded))})
    train_rows, valid_rows, y_train, y_valid = holdout(rows, encoded)
    train_index, valid_index = train_rows["row"].to_numpy(), valid_rows["row"].to_numpy()
    # Normalise each channel by the training split's mean and spread.
    mean = images[train_index].mean(dim=(0, 2, 3), keepdim=True)
    std = images[train_index].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)
    images = (images - mean) / std

    model = SmallCNN(images.shape[1], n_classes, WIDTH).to(DEVICE)
    generator = torch.Generator().manual_seed(SEED)
    # Keep time for loading and predicting the test images, and a margin.
    reserve = per_image * len(test_paths) * 1.5 + 0.05 * (deadline - start) + 2
    train(model, images[train_index], y_train, deadline - reserve, generator)
    name = f"SmallCNN({WIDTH}-{2 * WIDTH}-{4 * WIDTH}, {'cuda' if CUDA else 'cpu'})"
    predicted, probabilities = predict(model, images[valid_index])
    report(metric, y_valid.to_numpy(), predicted, probabilities, n_classes, name)

    say(f"predicting {len(test_paths)} test images")
    test_loaded, test_readable = load_images(test_paths, mode, SIZE, deadline, "test")
    test_images_tensor = (to_tensor(test_loaded) - mean) / std
    if not test_readable.all():
        # An unreadable test image still needs a prediction: the average training image.
        test_images_tensor[~torch.from_numpy(test_readable)] = 0.0
    predicted, probabilities = predict(model, test_images_tensor)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
