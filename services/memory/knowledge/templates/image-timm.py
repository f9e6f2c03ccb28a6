"""mlzero program template: a timm ResNet trained from scratch (GPU variant of image-cnn).

Lists the images (one subfolder per class, or a table with a path and a label
column) and loads each with Pillow in one mode (RGB, or L when every image is
grayscale): 64x64 on a GPU, 32x32 on CPU. timm.create_model builds a ResNet
with pretrained=False (random weights; nothing is downloaded, HF_HUB_OFFLINE
is set before timm loads), its 7x7 stride-2 stem replaced by a 3x3 stride-1
convolution so that small images keep their detail. On CUDA it is ResNet-18
(64-512 channels) with bfloat16 autocast and channels_last tensors; on CPU
(torch.cuda.is_available() false) a ResNet-10 at a quarter of the width, so
it still trains in a minute. AdamW with a one-epoch warm-up and a cosine
learning rate, label smoothing, random shifts (padding + crop) and horizontal
flips on a seeded, stratified holdout; the epochs are planned from the first
epoch's time to fit the budget. The validation score is printed as one
MLZERO_RESULT line, and the trained model (no refit) predicts the test images,
averaging each image with its mirror. reduce_level >= 1 halves the width, the
batch and the epochs and caps the images per class; reduce_level 2 also
trains at 32x32 on CUDA.
"""
# mlzero:include common.py


# mlzero:include image_io.py


import math
import warnings

# Random weights only: the hub must never be asked for a checkpoint.
os.environ["HF_HUB_OFFLINE"] = "1"

import timm
import torch
from torch import nn
from torch.nn import functional as F

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
SIZE = 64 if CUDA and REDUCE < 2 else 32
# Channels of the first stage; the next three have 2x, 4x and 8x. One block per stage on CPU.
WIDTH = (64 if CUDA else 16) // (2 if REDUCE >= 1 else 1)
LAYERS = (2, 2, 2, 2) if CUDA and REDUCE == 0 else (1, 1, 1, 1)
MAX_EPOCHS = (60 if CUDA else 40) // {0: 1, 1: 2}.get(REDUCE, 4)
BATCH = (256 if CUDA else 64) // (2 if REDUCE >= 1 else 1)
# Small data sets need more passes: train at least this many optimizer steps when time allows.
MIN_STEPS = {0: 2000 if CUDA else 600, 1: 400}.get(REDUCE, 200)
# Images per class at most: fewer after an out-of-memory failure or a timeout.
PER_CLASS = {0: 10_000 if CUDA else 5000, 1: 2000}.get(REDUCE, 500)
PAD = SIZE // 8
LEARNING_RATE = 2e-3


def make_model(channels, n_classes):
    """timm's ResNet from random weights, its stem one 3x3 stride-1 convolution before the
    max-pool: the last stage sees 4x4 at 64x64, as CIFAR ResNets do at 32x32. The deep stem is
    asked for only to size the stem's batch norm (2 x stem_width = WIDTH channels; the plain
    stem has 64 whatever the width). The last batch norm of each block starts at one, not zero
    (zero_init_last): from scratch on little data, zero makes the first hundreds of steps idle."""
    model = timm.create_model(
        "resnet18", pretrained=False, num_classes=n_classes, in_chans=channels, layers=LAYERS,
        channels=tuple(WIDTH * k for k in (1, 2, 4, 8)), stem_type="deep", stem_width=WIDTH // 2,
        zero_init_last=False, drop_rate=0.2,
    )
    model.conv1 = nn.Conv2d(channels, WIDTH, 3, stride=1, padding=1, bias=False)
    return model


def model_name():
    depth = 2 * sum(LAYERS) + 2
    precision = ", bf16, channels_last" if CUDA else ""
    return f"timm ResNet-{depth} ({WIDTH}-{8 * WIDTH} channels, {SIZE}x{SIZE}, from scratch, {DEVICE.type}{precision})"


def to_tensor(images):
    """N x channels x SIZE x SIZE float tensor; an unreadable image (None) becomes zeros."""
    blank = np.zeros_like(next(image for image in images if image is not None))
    stack = np.stack([blank if image is None else image for image in images])
    return torch.from_numpy(np.ascontiguousarray(stack.transpose(0, 3, 1, 2)))


def augment(batch, generator):
    """Random shifts of up to PAD pixels (replicate padding, then a random crop) and horizontal
    flips, as one gather for the whole batch; the result is channels_last in memory."""
    n, device = batch.shape[0], batch.device
    padded = F.pad(batch, (PAD, PAD, PAD, PAD), mode="replicate")
    offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator).to(device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(device)
    steps = torch.arange(SIZE, device=device)
    rows = offsets[:, :1] + steps
    cols = offsets[:, 1:] + steps
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    # Advanced indexes around a slice put their dimensions first: N x SIZE x SIZE x channels.
    shifted = padded[torch.arange(n, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return shifted.permute(0, 3, 1, 2)


def autocast():
    return torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=CUDA)


def predict(model, images):
    """(class indexes, probabilities as float64 rows summing to 1), each image averaged with its mirror."""
    model.eval()
    parts = []
    with torch.no_grad(), autocast():
        for begin in range(0, len(images), 512):
            batch = images[begin:begin + 512].to(DEVICE).float().contiguous(memory_format=torch.channels_last)
            logits = model(batch).float(), model(batch.flip(3)).float()
            probabilities = (F.softmax(logits[0], dim=1) + F.softmax(logits[1], dim=1)) / 2
            parts.append(probabilities.double().cpu().numpy())
    probabilities = np.concatenate(parts)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities.argmax(axis=1), probabilities


def parameter_groups(model):
    """Weight decay on the convolution and linear weights only, not on biases and batch norm."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}]


def train(model, images, target, deadline, generator, predict_rows):
    """AdamW: a linear warm-up over the first epoch, then a cosine to 1% of the rate over the
    epochs planned from the first epoch's time, keeping time to predict `predict_rows` images."""
    optimizer = torch.optim.AdamW(parameter_groups(model), lr=LEARNING_RATE)
    labels = torch.as_tensor(np.asarray(target), dtype=torch.long).to(DEVICE)
    n = len(labels)
    # Smaller batches for small data: more steps per epoch at the same cost.
    batch_size = int(min(BATCH, max(16, 2 ** round(math.log2(max(n, 1) / 8)))))
    steps_per_epoch = max(1, n // batch_size)
    most = max(MAX_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
    say(f"training on {n} images, batches of {batch_size}, up to {most} epochs")

    def set_rate(rate):
        for group in optimizer.param_groups:
            group["lr"] = rate

    epochs, started, step, decay_steps = most, time.monotonic(), 0, None
    epoch = 0
    while epoch < epochs:
        epoch_start = time.monotonic()
        model.train()
        order = torch.randperm(n, generator=generator).to(DEVICE)
        total, batches, timed = 0.0, 0, None
        for begin in range(0, steps_per_epoch * batch_size, batch_size):
            index = order[begin:begin + batch_size]
            if len(index) < 2:
                continue  # batch norm needs two images
            if decay_steps is None:
                set_rate(LEARNING_RATE * (0.1 + 0.9 * batches / steps_per_epoch))
            else:
                progress = min(1.0, (step - steps_per_epoch) / decay_steps)
                set_rate(LEARNING_RATE * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))))
            if batches == min(3, steps_per_epoch // 2):
                timed = (time.monotonic(), batches)  # the first steps include CUDA's warm-up
            batch = augment(images[index], generator).float()
            with autocast():
                loss = F.cross_entropy(model(batch).float(), labels[index], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            batches += 1
            step += 1
            if time.monotonic() > deadline:
                break
        epoch += 1
        seconds = time.monotonic() - epoch_start
        if decay_steps is None:
            # Plan the epochs that fit the budget from the steps after the warm-up, keeping time
            # for predicting (a forward pass twice, about a third of a training step per image).
            per_step = (time.monotonic() - timed[0]) / max(1, batches - timed[1]) if timed else seconds / max(1, batches)
            planned = per_step * steps_per_epoch
            spare = deadline - time.monotonic() - 0.7 * per_step / batch_size * predict_rows - planned
            epochs = max(1, min(most, epoch + int(spare / max(planned, 1e-3))))
            if epochs < most:
                warn(f"time budget: training {epochs} of {most} epochs ({planned:.1f} s each)")
            decay_steps = max(1, (epochs - epoch) * steps_per_epoch)
        if epoch == 1 or epoch % max(5, epochs // 10) == 0 or epoch == epochs:
            say(f"epoch {epoch}/{epochs}: training loss {total / max(1, batches * batch_size):.4f} ({seconds:.1f} s)")
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
        # Two OpenMP threads on two shared cores stall for seconds at a time (a 20-40x slower
        # epoch); this narrow network loses little with one.
        torch.set_num_threads(N_JOBS if N_JOBS > 2 else 1)
    warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
    paths, labels = labelled_images(PER_CLASS)
    test_paths, test = test_images()
    mode = common_mode(paths)
    device = torch.cuda.get_device_name(0) if CUDA else f"CPU ({N_JOBS} cores, {torch.get_num_threads()} used by torch)"
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
    # On a GPU the training images live there, in half precision: no copy per batch.
    train_images = images[train_index].to(DEVICE, dtype=torch.float16 if CUDA else torch.float32)

    model = make_model(images.shape[1], n_classes).to(DEVICE)
    if CUDA:
        model = model.to(memory_format=torch.channels_last)
    name = model_name()
    say(f"model: {name}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    generator = torch.Generator().manual_seed(SEED)
    # Keep time for loading the test images, and a margin.
    reserve = per_image * len(test_paths) * 1.5 + 0.05 * (deadline - start) + 2
    train(model, train_images, y_train, deadline - reserve, generator, len(valid_index) + len(test_paths))
    del train_images
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
